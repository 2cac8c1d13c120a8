package conntrack

import (
	"slices"
	"testing"
)

func TestEditBlacklist(t *testing.T) {
	t.Parallel()
	const own = "# mine\ninstall nf_nat /usr/local/bin/guard\n"
	for _, tc := range []struct {
		name        string
		content     string
		plan, prior *Blacklist
		want        string
	}{
		{"create with disable", own, &Blacklist{Modules: []string{"nf_conntrack"}, Disable: true}, nil,
			own + "blacklist nf_conntrack\ninstall nf_conntrack /bin/false\n"},
		{"create without disable", "", &Blacklist{Modules: []string{"nf_conntrack"}}, nil, "blacklist nf_conntrack\n"},
		{"destroy keeps others' install lines", own + "blacklist nf_nat\nblacklist nf_conntrack\ninstall nf_conntrack /bin/false\n",
			nil, &Blacklist{Modules: []string{"nf_conntrack", "nf_nat"}, Disable: true}, own},
		{"update swaps modules", "blacklist a\ninstall a /bin/false\n", &Blacklist{Modules: []string{"b"}, Disable: true},
			&Blacklist{Modules: []string{"a"}, Disable: true}, "blacklist b\ninstall b /bin/false\n"},
		// A module both lists hold keeps its lines where they are: an apply
		// killed after its write left the new file under the old state, and
		// the next apply moved a's lines behind b's (found by
		// TestAccFaultKillAndInterrupt/module_blacklist).
		{"update keeps a module that stays", own + "blacklist a\ninstall a /bin/false\nblacklist c\ninstall c /bin/false\n",
			&Blacklist{Modules: []string{"a", "b"}, Disable: true}, &Blacklist{Modules: []string{"a", "c"}, Disable: true},
			own + "blacklist a\ninstall a /bin/false\nblacklist b\ninstall b /bin/false\n"},
		{"the new file under the old state is left alone", own + "blacklist a\ninstall a /bin/false\nblacklist b\ninstall b /bin/false\n",
			&Blacklist{Modules: []string{"a", "b"}, Disable: true}, &Blacklist{Modules: []string{"a", "c"}, Disable: true},
			own + "blacklist a\ninstall a /bin/false\nblacklist b\ninstall b /bin/false\n"},
		{"a module that stays loses its install line with disable off", "blacklist a\ninstall a /bin/false\n",
			&Blacklist{Modules: []string{"a"}}, &Blacklist{Modules: []string{"a"}, Disable: true}, "blacklist a\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(EditBlacklist([]byte(tc.content), tc.plan, tc.prior)); got != tc.want {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func TestBuiltinsAndBuildOf(t *testing.T) {
	t.Parallel()
	h := ModuleHost{Kind: map[string]string{"nf_conntrack": "builtin", "nf_nat": "module"}, Loaded: map[string]LoadedModule{"nf_nat": {}}}
	if got := h.Builtins([]string{"nf_conntrack", "nf_nat", "x"}); !slices.Equal(got, []string{"nf_conntrack"}) {
		t.Errorf("Builtins = %v", got)
	}
	if !h.IsLoaded("nf_nat") || h.IsLoaded("nf_conntrack") {
		t.Error("IsLoaded reads /proc/modules only")
	}
	// The record is compared with the one kept in private state: equal
	// content gives an equal record, and it changes with the content or file.
	a := BuildOf("f", []byte("a"))
	if want := (InitramfsBuild{File: "f", SHA256: "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"}); a != want {
		t.Errorf("BuildOf = %+v, want %+v", a, want)
	}
	if BuildOf("f", []byte("b")) == a || BuildOf("g", []byte("a")) == a {
		t.Error("BuildOf must follow the content and the file")
	}
}

func TestServiceActions(t *testing.T) {
	t.Parallel()
	on, off := true, false
	states := map[string]ServiceState{
		"iptables":  {Installed: true, Enabled: true, Running: true},
		"ip6tables": {Installed: true},
		"firewalld": {},
	}
	for _, tc := range []struct {
		name             string
		services         []string
		enabled, running *bool
		want             []ServiceAction
	}{
		{"unmanaged: nothing", []string{"iptables"}, nil, nil, nil},
		{"stop before disable", []string{"iptables"}, &off, &off,
			[]ServiceAction{{"iptables", "stop"}, {"iptables", "disable"}}},
		{"enable before start", []string{"ip6tables"}, &on, &on,
			[]ServiceAction{{"ip6tables", "enable"}, {"ip6tables", "start"}}},
		{"only what differs", []string{"iptables", "ip6tables"}, nil, &on, []ServiceAction{{"ip6tables", "start"}}},
		{"nothing to stop when not installed", []string{"firewalld"}, &off, &off, nil},
		{"start asked of a missing service is tried", []string{"firewalld"}, nil, &on, []ServiceAction{{"firewalld", "start"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ServiceActions(tc.services, states, tc.enabled, tc.running); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLiveWrites(t *testing.T) {
	t.Parallel()
	l := Limits{Facts: Facts{Naming: NamingModern}}
	got := l.LiveWrites(Managed{Sysctls: map[string]string{"udp_timeout": "30", "max": "262144", "buckets_x": "1"}, Buckets: "32768"})
	var paths []string
	for _, w := range got {
		paths = append(paths, w.Path)
	}
	want := []string{"/proc/sys/net/netfilter/nf_conntrack_max", "/proc/sys/net/netfilter/nf_conntrack_buckets_x",
		"/proc/sys/net/netfilter/nf_conntrack_udp_timeout", HashsizePath(NamingModern)}
	if !slices.Equal(paths, want) {
		t.Errorf("writes %v, want max first and hashsize last: %v", paths, want)
	}
	if len(l.LiveWrites(Managed{})) != 0 {
		t.Error("nothing managed: nothing to write")
	}
}

func TestSetShellVars(t *testing.T) {
	t.Parallel()
	const conf = "# iptables-config\nIPTABLES_MODULES=\"nf_conntrack_ftp\"\nIPTABLES_SAVE_ON_STOP=\"no\"\n"
	got, added := SetShellVars([]byte(conf), map[string]string{"IPTABLES_MODULES": "", "IPTABLES_MODULES_UNLOAD": "no"}, []string{"IPTABLES_SYSCTL_LOAD_LIST"})
	if want := "# iptables-config\nIPTABLES_MODULES=\"\"\nIPTABLES_SAVE_ON_STOP=\"no\"\nIPTABLES_MODULES_UNLOAD=\"no\"\n"; string(got) != want {
		t.Errorf("content\n%q\nwant\n%q", got, want)
	}
	// MODULES was there before: not ours to remove; SYSCTL_LOAD_LIST is no
	// longer wanted: no longer ours either.
	if !slices.Equal(added, []string{"IPTABLES_MODULES_UNLOAD"}) {
		t.Errorf("added %v", added)
	}
	if again, added2 := SetShellVars(got, map[string]string{"IPTABLES_MODULES": "", "IPTABLES_MODULES_UNLOAD": "no"}, added); string(again) != string(got) || !slices.Equal(added2, added) {
		t.Errorf("not idempotent: %q %v", again, added2)
	}
	if back := DeleteShellVars(got, added); string(back) != "# iptables-config\nIPTABLES_MODULES=\"\"\nIPTABLES_SAVE_ON_STOP=\"no\"\n" {
		t.Errorf("delete left %q", back)
	}
}

func TestLowering(t *testing.T) {
	t.Parallel()
	hs := int64(65536)
	l := Limits{Running: map[string]string{"max": "262144", "tcp_loose": "1", "udp_timeout": "30", "tcp_timeout_established": "432000", "range": "1\t2"}, Facts: Facts{Buckets: &hs}}
	for _, tc := range []struct {
		want Managed
		got  []string
	}{
		{Managed{Sysctls: map[string]string{"max": "524288", "udp_timeout": "30"}, Buckets: "131072"}, nil},
		{Managed{Sysctls: map[string]string{"max": "1024", "tcp_loose": "0", "udp_timeout": "60"}}, []string{"max", "tcp_loose"}},
		{Managed{Sysctls: map[string]string{"tcp_timeout_established": "3600"}, Buckets: "16384"}, []string{"tcp_timeout_established", "buckets"}},
		{Managed{Sysctls: map[string]string{"range": "1 2", "not_running": "1"}}, nil},
		{Managed{Sysctls: map[string]string{"range": "1 3"}}, []string{"range"}},
	} {
		if got := l.Lowering(tc.want); !slices.Equal(got, tc.got) {
			t.Errorf("Lowering(%v) = %v, want %v", tc.want, got, tc.got)
		}
	}
}
