package iptables

import "testing"

func TestInsertRuleGoesFirstInItsChain(t *testing.T) {
	in := "*filter\r\n:INPUT DROP [0:0]\r\n:FWD - [0:0]\r\n-A FWD -j DROP\r\n-A INPUT -i lo -j ACCEPT\r\n-A INPUT -j DROP\r\nCOMMIT\r\n"
	f := Parse([]byte(in))
	if err := f.InsertRule("filter", "INPUT", []string{"-m", "conntrack", "--ctstate", "UNTRACKED", "-j", "ACCEPT"}); err != nil {
		t.Fatal(err)
	}
	want := "*filter\r\n:INPUT DROP [0:0]\r\n:FWD - [0:0]\r\n-A FWD -j DROP\r\n-A INPUT -m conntrack --ctstate UNTRACKED -j ACCEPT\r\n-A INPUT -i lo -j ACCEPT\r\n-A INPUT -j DROP\r\nCOMMIT\r\n"
	if got := string(f.Bytes()); got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	// A chain without rules, and a file without the table, fall back to AddRule.
	g := Parse([]byte("*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n"))
	if err := g.InsertRule("filter", "INPUT", []string{"-j", "ACCEPT"}); err != nil {
		t.Fatal(err)
	}
	if rules := g.Rules("filter"); len(rules) != 1 || rules[0].Chain != "INPUT" {
		t.Fatalf("rules: %+v\n%s", rules, g.Bytes())
	}
}
