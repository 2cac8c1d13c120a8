package conntrack

import (
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestIptablesVariant(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		lines []string
		want  IptablesVariant
	}{
		{nil, IptablesNone},
		{[]string{"/usr/sbin/xtables-nft-multi"}, IptablesNft},
		{[]string{"/usr/sbin/xtables-legacy-multi"}, IptablesLegacy},
		{[]string{"/usr/sbin/iptables-nft"}, IptablesNft},
		// iptables 1.4/1.6 (RHEL 7, Debian 9): legacy, whatever -V says.
		{[]string{"/usr/sbin/xtables-multi", "iptables v1.4.21"}, IptablesLegacy},
		{[]string{"/sbin/iptables"}, IptablesLegacy},
		// A 1.8 build installed under its own name says which in -V.
		{[]string{"/opt/bin/iptables", "iptables v1.8.9 (nf_tables)"}, IptablesNft},
		{[]string{"/opt/bin/iptables", "iptables v1.8.9 (legacy)"}, IptablesLegacy},
	} {
		if got := iptablesVariant(c.lines); got != c.want {
			t.Errorf("%q: %s, want %s", c.lines, got, c.want)
		}
	}
}

func TestSplitNftTables(t *testing.T) {
	t.Parallel()
	tables, err := parseNftTables(strings.Split("table ip filter\ntable inet firewalld\ntable ip nat\ntable ip6 raw\ntable inet filter\ntable bridge filter\ntable ip mytable", "\n"))
	if err != nil {
		t.Fatal(err)
	}
	native, own := SplitNftTables(tables, true)
	if want := []string{"inet filter", "inet firewalld", "ip mytable"}; !reflect.DeepEqual(native, want) {
		t.Errorf("native %q, want %q", native, want)
	}
	if want := []string{"bridge filter", "ip filter", "ip nat", "ip6 raw"}; !reflect.DeepEqual(own, want) {
		t.Errorf("iptables-nft's %q, want %q", own, want)
	}
	// Where iptables is legacy, an "ip nat" table is someone's nftables ruleset.
	native, own = SplitNftTables(tables, false)
	if len(native) != len(tables) || len(own) != 0 {
		t.Errorf("legacy host: native %q, iptables-nft's %q", native, own)
	}
	if _, err := parseNftTables([]string{"Error: Could not process rule"}); err == nil {
		t.Error("an error message passed for a table")
	}
}

func TestFirewalldBackend(t *testing.T) {
	t.Parallel()
	for conf, want := range map[string]string{
		"":                             "nftables",
		"# FirewallBackend=iptables\n": "nftables",
		"DefaultZone=public\nFirewallBackend=iptables\n":     "iptables",
		"FirewallBackend=\"iptables\"\r\n":                   "iptables",
		"FirewallBackend=iptables\nFirewallBackend=nftables": "nftables",
		"FirewallBackend=":                                   "nftables",
	} {
		if got := FirewalldBackend(conf); got != want {
			t.Errorf("%q: %q, want %q", conf, got, want)
		}
	}
}

func TestParseStack(t *testing.T) {
	t.Parallel()
	svc := ServiceHost{Systemd: true, Units: map[string]ServiceState{"firewalld": {Installed: true, Enabled: true, Running: true}}}
	sec, err := splitSections(marker + "begin\n" + marker + "stack_nf_tables\n1\n" + marker + "stack_iptables\n/usr/sbin/xtables-nft-multi\n" +
		marker + "stack_nft_tables\ntable inet firewalld\ntable ip filter\n" + marker + "stack_nft_rc\n0\n" +
		marker + "file_firewalld_conf\nfile\nFirewallBackend=nftables\nx\n" + marker + "end\n")
	if err != nil {
		t.Fatal(err)
	}
	st, err := parseStack(sec, svc)
	if err != nil {
		t.Fatal(err)
	}
	want := Stack{Iptables: IptablesNft, Ip6tables: IptablesNone, NftReadable: true, NftTables: []string{"inet firewalld"}, IptablesNftTables: []string{"ip filter"},
		FirewalldConf: true, FirewalldBackend: "nftables", Init: InitSystemd,
		Services: map[string]ServiceState{"firewalld": {Installed: true, Enabled: true, Running: true}, "iptables": {}, "ip6tables": {}, "nftables": {}}}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("got %+v\nwant %+v", st, want)
	}

	// nf_tables not there: no tables, and none listed (listing would load it).
	sec, _ = splitSections(marker + "begin\n" + marker + "stack_nf_tables\nno\n" + marker + "file_firewalld_conf\nnone\n" + marker + "end\n")
	if st, err = parseStack(sec, ServiceHost{}); err != nil || !st.NftReadable || len(st.NftTables) != 0 || st.NftTables == nil || st.FirewalldConf || st.Init != InitSysV {
		t.Errorf("no nf_tables: %+v, %v", st, err)
	}
	// nf_tables there but nft missing or failing: unknown.
	sec, _ = splitSections(marker + "begin\n" + marker + "stack_nf_tables\n1\n" + marker + "stack_nft_tables\n" + marker + "stack_nft_rc\n1\n" + marker + "end\n")
	if st, err = parseStack(sec, ServiceHost{}); err != nil || st.NftReadable || st.NftTables != nil {
		t.Errorf("nft failed: %+v, %v", st, err)
	}
}

// The stack read in a snapshot on this machine: what it says matches the
// machine, and it ran nothing that loads a module (see the probes).
func TestSnapshotStackOnThisHost(t *testing.T) {
	t.Parallel()
	// With the firewall read, whose probe defines a shell function nft.
	req := SnapshotRequest{Stack: true, Firewall: []FirewallRead{{IPVersion: 4}}}
	script, args := SnapshotScript(req)
	out, err := exec.Command("sh", append([]string{"-c", script, "sh"}, args...)...).Output()
	if err != nil {
		t.Fatal(err)
	}
	snap, err := ParseSnapshot(string(out), req)
	if err != nil {
		t.Fatal(err)
	}
	st, ok, err := snap.Stack()
	if !ok || err != nil {
		t.Fatalf("stack: %v %v", ok, err)
	}
	want := IptablesNone
	if p, err := exec.LookPath("iptables"); err == nil {
		want = IptablesLegacy
		if resolved, _ := exec.Command("readlink", "-f", p).Output(); strings.Contains(string(resolved), "nft") {
			want = IptablesNft
		}
	}
	if st.Iptables != want {
		t.Errorf("iptables variant %s, this machine's is %s", st.Iptables, want)
	}
	if nft, err := exec.LookPath("nft"); err == nil && st.NftReadable {
		out, err := exec.Command(nft, "list", "tables").Output()
		if err != nil {
			t.Fatal(err)
		}
		tables, _ := parseNftTables(strings.Split(strings.TrimSpace(string(out)), "\n"))
		if len(out) == 0 {
			tables = []string{}
		}
		if got := append(slices.Clone(st.NftTables), st.IptablesNftTables...); len(got) != len(tables) {
			t.Errorf("nft tables %q, this machine has %q", got, tables)
		}
	}
	if _, ok, _ := (&Snapshot{req: SnapshotRequest{}}).Stack(); ok {
		t.Error("a snapshot without the stack read says it has one")
	}
}

func FuzzParseStack(f *testing.F) {
	f.Add("1", "/usr/sbin/xtables-nft-multi", "table inet filter\ntable ip nat", "0", "file\nFirewallBackend=iptables\nx")
	f.Add("no", "", "", "", "none")
	f.Fuzz(func(t *testing.T, nf, ipt, tables, rc, conf string) {
		out := marker + "begin\n" + marker + "stack_nf_tables\n" + nf + "\n" + marker + "stack_iptables\n" + ipt + "\n" +
			marker + "stack_nft_tables\n" + tables + "\n" + marker + "stack_nft_rc\n" + rc + "\n" + marker + "file_firewalld_conf\n" + conf + "\n" + marker + "end\n"
		sec, err := splitSections(out)
		if err != nil {
			return
		}
		st, err := parseStack(sec, ServiceHost{})
		if err != nil {
			return
		}
		if !slices.Contains(IptablesVariants, st.Iptables) || len(st.NftTables)+len(st.IptablesNftTables) > strings.Count(tables, "\n")+1 {
			t.Fatalf("%+v", st)
		}
		if st.FirewalldConf && st.FirewalldBackend == "" {
			t.Fatal("firewalld.conf without a backend")
		}
	})
}
