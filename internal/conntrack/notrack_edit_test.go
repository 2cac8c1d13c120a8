package conntrack

import (
	"slices"
	"strings"
	"testing"
)

var udp53 = NotrackRule{IPVersion: 4, Protocol: "udp", Port: "53", Chains: []string{"OUTPUT", "PREROUTING"}, Target: "CT"}

// save renders rules as iptables-save output of the raw table.
func save(rules ...string) string {
	var b strings.Builder
	b.WriteString("*raw\n")
	for _, chain := range []string{"PREROUTING", "INPUT", "OUTPUT"} {
		b.WriteString(":" + chain + " ACCEPT [0:0]\n")
	}
	for _, r := range rules {
		b.WriteString(r + "\n")
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// ruleLine is the iptables-save lines of r's rules in chain.
func ruleLine(r NotrackRule, chain string) string {
	var lines []string
	for _, cr := range r.Rules() {
		if cr.Chain != chain {
			continue
		}
		args := slices.Clone(cr.Args)
		for i, a := range args {
			if strings.Contains(a, " ") {
				args[i] = `"` + a + `"`
			}
		}
		lines = append(lines, "-A "+chain+" "+strings.Join(args, " "))
	}
	return strings.Join(lines, "\n")
}

// mustEdit is EditRules for rules that are valid by construction.
func mustEdit(t *testing.T, content []byte, plan, prior *OwnedRules) []byte {
	t.Helper()
	out, err := EditRules(content, plan, prior)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEditRules(t *testing.T) {
	t.Parallel()
	other := "-A PREROUTING -p tcp -m tcp --dport 80 -j CT --notrack"
	base := []byte(save(other))
	withRule := mustEdit(t, base, &OwnedRules{Rule: udp53}, nil)
	accept := mustEdit(t, base, &OwnedRules{Rule: udp53, AcceptUntracked: true}, nil)
	for _, tc := range []struct {
		name        string
		content     []byte
		plan, prior *OwnedRules
		has, hasNot []string
	}{
		{"create adds a rule per chain and keeps others", base, &OwnedRules{Rule: udp53}, nil,
			[]string{other, "--dport 53", "--sport 53"}, []string{"UNTRACKED"}},
		{"create with accept inserts the filter rule", base, &OwnedRules{Rule: udp53, AcceptUntracked: true}, nil,
			[]string{"*filter", "--ctstate UNTRACKED", "--dport 53"}, nil},
		{"delete removes only the owned rules", withRule, nil, &OwnedRules{Rule: udp53},
			[]string{other}, []string{"--dport 53", "--sport 53"}},
		{"delete removes the accept rule too", accept, nil, &OwnedRules{Rule: udp53, AcceptUntracked: true},
			[]string{other}, []string{"UNTRACKED", "--dport 53"}},
		{"update drops a chain", withRule, &OwnedRules{Rule: func() NotrackRule { r := udp53; r.Chains = []string{"PREROUTING"}; return r }()},
			&OwnedRules{Rule: udp53}, []string{"--dport 53"}, []string{"--sport 53"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(mustEdit(t, tc.content, tc.plan, tc.prior))
			for _, s := range tc.has {
				if !strings.Contains(got, s) {
					t.Errorf("no %q in\n%s", s, got)
				}
			}
			for _, s := range tc.hasNot {
				if strings.Contains(got, s) {
					t.Errorf("%q still in\n%s", s, got)
				}
			}
		})
	}
	if again := mustEdit(t, withRule, &OwnedRules{Rule: udp53}, &OwnedRules{Rule: udp53}); string(again) != string(withRule) {
		t.Errorf("re-applying the same rule changed the file:\n%s\n->\n%s", withRule, again)
	}
}

func TestLiveChanges(t *testing.T) {
	t.Parallel()
	legacy := udp53
	legacy.Target = "NOTRACK"
	stranger := "-A OUTPUT -p tcp -m comment --comment \"conntrack-tf:ffffffffffff\" -j CT --notrack"
	ops := func(cs []Change) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Op+" "+c.Table+" "+c.Chain)
		}
		return out
	}
	for _, tc := range []struct {
		name        string
		fw          Firewall
		plan, prior *OwnedRules
		want        []string
	}{
		{"nothing running: add both chains", Firewall{}, &OwnedRules{Rule: udp53}, nil,
			[]string{"add raw OUTPUT", "add raw PREROUTING"}},
		{"already running: nothing", Firewall{LiveRaw: save(ruleLine(udp53, "PREROUTING"), ruleLine(udp53, "OUTPUT"))},
			&OwnedRules{Rule: udp53}, &OwnedRules{Rule: udp53}, nil},
		{"nft prints NOTRACK as CT: same rule", Firewall{LiveRaw: save(ruleLine(udp53, "PREROUTING"), ruleLine(udp53, "OUTPUT"))},
			&OwnedRules{Rule: legacy}, nil, nil},
		{"accept goes first in INPUT", Firewall{LiveRaw: save(ruleLine(udp53, "PREROUTING"), ruleLine(udp53, "OUTPUT"))},
			&OwnedRules{Rule: udp53, AcceptUntracked: true}, &OwnedRules{Rule: udp53}, []string{"ins filter INPUT"}},
		{"delete removes what runs, not others' rules", Firewall{LiveRaw: save(ruleLine(udp53, "OUTPUT"), stranger)},
			nil, &OwnedRules{Rule: udp53}, []string{"del raw OUTPUT"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ops(LiveChanges(tc.fw, tc.plan, tc.prior)); !slices.Equal(got, tc.want) {
				t.Errorf("changes %v, want %v", got, tc.want)
			}
		})
	}
}

func TestObserveRule(t *testing.T) {
	t.Parallel()
	commented := udp53
	commented.Comment = "dns"
	for _, tc := range []struct {
		name       string
		fw         Firewall
		live, file []string
		comment    string
	}{
		{"nowhere", Firewall{}, nil, nil, ""},
		{"live only", Firewall{LiveRaw: save(ruleLine(udp53, "OUTPUT"))}, []string{"OUTPUT"}, nil, ""},
		{"file only, with the host's comment", Firewall{Rules: File{Content: []byte(save(ruleLine(commented, "PREROUTING")))}},
			nil, []string{"PREROUTING"}, "dns"},
		{"live and file disagree on the comment: the running one shows", Firewall{LiveRaw: save("raw", ruleLine(udp53, "PREROUTING")),
			Rules: File{Content: []byte(save("raw", ruleLine(commented, "PREROUTING")))}}, []string{"PREROUTING"}, []string{"PREROUTING"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := ObserveRule(udp53, tc.fw)
			keys := func(m map[string]bool) []string {
				var out []string
				for k := range m {
					out = append(out, k)
				}
				slices.Sort(out)
				return out
			}
			if got := keys(p.Live); !slices.Equal(got, tc.live) {
				t.Errorf("live %v, want %v", got, tc.live)
			}
			if got := keys(p.File); !slices.Equal(got, tc.file) {
				t.Errorf("file %v, want %v", got, tc.file)
			}
			if p.Comment != tc.comment {
				t.Errorf("comment %q, want %q", p.Comment, tc.comment)
			}
		})
	}
}

func TestDropsUntracked(t *testing.T) {
	t.Parallel()
	for filter, want := range map[string]bool{
		"*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n":                                                      false,
		"*filter\n:INPUT DROP [0:0]\n-A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT\nCOMMIT\n": true,
		"*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j REJECT\nCOMMIT\n":                                  true,
		"*filter\n:INPUT DROP [0:0]\n-A INPUT -m conntrack --ctstate UNTRACKED -j ACCEPT\nCOMMIT\n":   false,
		"": false,
	} {
		if got := DropsUntracked(filter, "INPUT"); got != want {
			t.Errorf("DropsUntracked(%q) = %v, want %v", filter, got, want)
		}
	}
}
