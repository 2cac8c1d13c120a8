package conntrack

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseServices(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		out  string
		want ServiceHost
	}{
		"systemd: running, stopped, missing": {
			out: "\n@@ctfacts:begin\n\n@@ctfacts:systemd\nyes\n\n@@ctfacts:sysv_tool\nupdate-rc.d\n" +
				"\n@@ctfacts:units\n" +
				"Id=iptables.service\nLoadState=loaded\nActiveState=active\nUnitFileState=enabled\n\n" +
				"Id=ip6tables.service\nLoadState=loaded\nActiveState=inactive\nUnitFileState=disabled\n\n" +
				"Id=firewalld.service\nLoadState=not-found\nActiveState=inactive\nUnitFileState=\n" +
				"\n@@ctfacts:sysv\niptables no no no\nip6tables no no no\nfirewalld no no no\n" +
				"\n@@ctfacts:rules4\n/etc/sysconfig/iptables:3\n\n@@ctfacts:rules6\n/etc/sysconfig/ip6tables:0\n/etc/iptables/rules.v6:2\n" +
				"\n@@ctfacts:end\n",
			want: ServiceHost{
				Systemd: true, SysVTool: "update-rc.d",
				Units: map[string]ServiceState{
					"iptables":  {Installed: true, Enabled: true, Running: true},
					"ip6tables": {Installed: true},
					"firewalld": {},
				},
				SysV:         map[string]ServiceState{"iptables": {}, "ip6tables": {}, "firewalld": {}},
				ManagedRules: map[int]int{4: 3, 6: 2},
			},
		},
		"sysv with a lock file, CRLF from a pty": {
			out: "motd\r\n\n@@ctfacts:begin\r\n\n@@ctfacts:systemd\r\n\n@@ctfacts:sysv_tool\r\nchkconfig\r\n" +
				"\n@@ctfacts:sysv\r\niptables yes yes yes\r\nip6tables yes no no\r\n" +
				"\n@@ctfacts:rules4\r\n\n@@ctfacts:rules6\r\n\n@@ctfacts:end\r\n",
			want: ServiceHost{
				SysVTool: "chkconfig", Units: map[string]ServiceState{},
				SysV: map[string]ServiceState{
					"iptables":  {Installed: true, Enabled: true, Running: true},
					"ip6tables": {Installed: true},
				},
				ManagedRules: map[int]int{},
			},
		},
		"static and masked units are not enabled; activating runs": {
			out: "\n@@ctfacts:begin\n\n@@ctfacts:systemd\nyes\n\n@@ctfacts:units\n" +
				"Id=nftables.service\nLoadState=masked\nActiveState=inactive\nUnitFileState=masked\n\n" +
				"Id=firewalld.service\nLoadState=loaded\nActiveState=activating\nUnitFileState=static\n" +
				"\n@@ctfacts:end\n",
			want: ServiceHost{
				Systemd: true,
				Units: map[string]ServiceState{
					"nftables":  {},
					"firewalld": {Installed: true, Running: true},
				},
				SysV: map[string]ServiceState{}, ManagedRules: map[int]int{},
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := ParseServices(tc.out)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseServicesRejectsCutOutput(t *testing.T) {
	t.Parallel()
	for _, out := range []string{
		"",
		"\n@@ctfacts:begin\n\n@@ctfacts:systemd\nyes\n", // no end marker
		"\n@@ctfacts:begin\n\n@@ctfacts:sysv\niptables yes\n\n@@ctfacts:end\n",
	} {
		if _, err := ParseServices(out); err == nil {
			t.Errorf("ParseServices(%q): no error", out)
		}
	}
}

func TestFlushedRules(t *testing.T) {
	t.Parallel()
	h := ServiceHost{ManagedRules: map[int]int{4: 2, 6: 1}}
	for svc, want := range map[string]int{"iptables": 2, "ip6tables": 1, "nftables": 3, "firewalld": 3} {
		if got := h.FlushedRules(svc); got != want {
			t.Errorf("FlushedRules(%s) = %d, want %d", svc, got, want)
		}
	}
}

func TestServiceApplyScriptArguments(t *testing.T) {
	t.Parallel()
	script, args := ServiceApplyScript("update-rc.d", []ServiceAction{{"iptables", "stop"}, {"iptables", "disable"}})
	if want := []string{"update-rc.d", "iptables stop", "iptables disable"}; !reflect.DeepEqual(args, want) {
		t.Fatalf("args = %q, want %q", args, want)
	}
	if strings.Contains(script, "'") {
		t.Fatal("the script must not contain single quotes")
	}
	got := ParseFailures("noise\n@@fail\tiptables stop\tJob failed \n@@fail\tbad\n")
	if want := map[string]string{"iptables stop": "Job failed"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseFailures = %q, want %q", got, want)
	}
}

func FuzzParseServices(f *testing.F) {
	f.Add("\n@@ctfacts:begin\n\n@@ctfacts:units\nId=iptables.service\nLoadState=loaded\n\n@@ctfacts:sysv\niptables yes no yes\n\n@@ctfacts:rules4\n/x:1\n\n@@ctfacts:end\n")
	f.Fuzz(func(t *testing.T, out string) {
		h, err := ParseServices(out)
		if err != nil {
			return
		}
		if h.Units == nil || h.SysV == nil || h.ManagedRules == nil {
			t.Fatal("nil maps after a successful parse")
		}
		for v, n := range h.ManagedRules {
			if (v != 4 && v != 6) || n <= 0 {
				t.Fatalf("ManagedRules[%d] = %d", v, n)
			}
		}
		again, _ := ParseServices(out)
		if !reflect.DeepEqual(h, again) {
			t.Fatal("two parses of the same output differ")
		}
	})
}
