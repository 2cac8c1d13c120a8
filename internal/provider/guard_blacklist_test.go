package provider

import (
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/diag"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/sshx"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// The module blacklist read finds the persisted lines that need
// connection tracking (both iptables layouts, nftables), comments left
// out, on a real host with the real grep.
func TestAccBlacklist_readFindsPersistedConntrackUsers(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	hostValue(t, h, "mkdir -p /etc/iptables")
	writeHostFile(t, h, "/etc/iptables/rules.v4", "*filter\n:INPUT DROP [0:0]\n# -A INPUT -m state --state NEW -j ACCEPT\n"+
		"-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n")
	hostValue(t, h, "mkdir -p /etc/sysconfig")
	writeHostFile(t, h, "/etc/sysconfig/ip6tables", "*raw\n-A PREROUTING -p udp --dport 53 -j CT --notrack\nCOMMIT\n")
	writeHostFile(t, h, "/etc/nftables.conf", "table inet f {\n  chain input {\n    type filter hook input priority 0;\n    #ct state new accept\n    ct state established accept # notrack\n  }\n}\n")
	script, args := conntrack.ModulesScript("/etc/modprobe.d/x.conf", []string{"nf_conntrack"})
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = sshx.Quote(a)
	}
	mh, err := conntrack.ParseModules(hostValue(t, h, "sh -c "+sshx.Quote(script)+" sh "+strings.Join(quoted, " ")), "/etc/modprobe.d/x.conf")
	if err != nil {
		t.Fatal(err)
	}
	want := []conntrack.FileLine{
		{Path: "/etc/sysconfig/ip6tables", Line: 2, Text: "-A PREROUTING -p udp --dport 53 -j CT --notrack"},
		{Path: "/etc/iptables/rules.v4", Line: 4, Text: "-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT"},
		{Path: "/etc/nftables.conf", Line: 5, Text: "ct state established accept # notrack"},
	}
	if len(mh.ConntrackUsers) != len(want) {
		t.Fatalf("found %+v, want %+v", mh.ConntrackUsers, want)
	}
	for i := range want {
		if mh.ConntrackUsers[i] != want[i] {
			t.Fatalf("found %+v, want %+v", mh.ConntrackUsers, want)
		}
	}
}

func TestPersistedRulesWarning(t *testing.T) {
	t.Parallel()
	users := []conntrack.FileLine{{Path: "/etc/iptables/rules.v4", Line: 4, Text: "-A INPUT -m state --state ESTABLISHED -j ACCEPT"}}
	for name, c := range map[string]struct {
		mods []string
		kind map[string]string
		want bool
	}{
		"conntrack module":       {[]string{"nf_conntrack", "nf_nat"}, map[string]string{"nf_conntrack": "module"}, true},
		"a match module":         {[]string{"xt_state"}, map[string]string{"xt_state": "available"}, true},
		"built in: cannot go":    {[]string{"nf_conntrack"}, map[string]string{"nf_conntrack": "builtin"}, false},
		"no conntrack module":    {[]string{"nf_nat", "iptable_nat"}, map[string]string{}, false},
		"no persisted rule uses": {[]string{"nf_conntrack"}, map[string]string{"nf_conntrack": "module"}, false},
	} {
		t.Run(name, func(t *testing.T) {
			mh := &conntrack.ModuleHost{Kind: c.kind, ConntrackUsers: users}
			if name == "no persisted rule uses" {
				mh.ConntrackUsers = nil
			}
			var diags diag.Diagnostics
			persistedRulesWarning(&diags, "h1", c.mods, mh)
			if got := diags.WarningsCount() == 1; got != c.want {
				t.Fatalf("warned %t, want %t: %v", got, c.want, diags)
			}
			if c.want && !strings.Contains(diags[0].Detail(), "/etc/iptables/rules.v4 line 4: -A INPUT -m state") {
				t.Fatalf("the warning does not name the line: %s", diags[0].Detail())
			}
		})
	}
}
