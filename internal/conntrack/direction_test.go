package conntrack

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestDirectionRules(t *testing.T) {
	t.Parallel()
	both := []string{"OUTPUT", "PREROUTING"}
	pre, out := "prerouting", "output"
	for _, tc := range []struct {
		direction string
		chains    []string
		port      bool
		want      []PortRule
	}{
		{DirectionServer, both, true, []PortRule{{pre, true}, {out, false}}},
		{DirectionClient, both, true, []PortRule{{pre, false}, {out, true}}},
		{DirectionForward, both, true, []PortRule{{pre, true}, {pre, false}}},
		{DirectionBoth, both, true, []PortRule{{pre, true}, {pre, false}, {out, false}, {out, true}}},
		{DirectionServer, []string{"PREROUTING"}, true, []PortRule{{pre, true}}},
		{DirectionClient, []string{"output"}, true, []PortRule{{out, true}}},
		{DirectionForward, []string{"OUTPUT"}, true, nil},
		// Without a port the rules of one chain are one rule.
		{DirectionServer, both, false, []PortRule{{pre, true}, {out, true}}},
		{DirectionClient, both, false, []PortRule{{pre, true}, {out, true}}},
		{DirectionBoth, both, false, []PortRule{{pre, true}, {out, true}}},
		{DirectionForward, both, false, []PortRule{{pre, true}}},
		{"sideways", both, true, nil},
	} {
		t.Run(fmt.Sprintf("%s %v %v", tc.direction, tc.chains, tc.port), func(t *testing.T) {
			if got := DirectionRules(tc.direction, tc.chains, tc.port); !slices.Equal(got, tc.want) {
				t.Errorf("rules %v, want %v", got, tc.want)
			}
			// What the rules are is what an import reads back as the direction,
			// at the declared chains (without a port, server stands for the
			// directions whose rules are the same).
			if len(tc.want) == 0 {
				return
			}
			want := tc.direction
			if !tc.port && tc.direction != DirectionForward {
				want = DirectionServer
			}
			if got := DirectionOf(tc.want, tc.chains, tc.port); got != want {
				t.Errorf("DirectionOf(%v, %v) = %q, want %q", tc.want, tc.chains, got, want)
			}
		})
	}
	// Rules of an older state's chains (PREROUTING only, declared both).
	if got := DirectionOf([]PortRule{{pre, true}}, both, true); got != DirectionServer {
		t.Errorf("DirectionOf of server's PREROUTING rule = %q", got)
	}
	if got := DirectionOf([]PortRule{{pre, true}, {out, true}}, both, true); got != "" {
		t.Errorf("DirectionOf of a shape no direction makes = %q, want \"\"", got)
	}
}

func TestValidateDirection(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		direction string
		chains    []string
		err       string
	}{
		{DirectionServer, []string{"OUTPUT"}, ""},
		{DirectionForward, []string{"OUTPUT", "PREROUTING"}, ""},
		{DirectionForward, []string{"output"}, `direction "forward" puts its rules in prerouting only`},
		{"Server", nil, `"Server" is not one of server, client, forward, both`},
		{"", nil, "is not one of"},
	} {
		err := ValidateDirection(tc.direction, tc.chains)
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("ValidateDirection(%q, %v) = %v, want %q", tc.direction, tc.chains, err, tc.err)
		}
	}
}

// TestNotrackRuleShapes pins the exact iptables rules of every direction.
// The server lines are the ones this provider wrote before directions
// existed: an existing rule must read back unchanged.
func TestNotrackRuleShapes(t *testing.T) {
	t.Parallel()
	tag := "-m comment --comment conntrack-tf:" + udp53.ID() + " -j CT --notrack"
	dport, sport := "-p udp -m udp --dport 53 "+tag, "-p udp -m udp --sport 53 "+tag
	for _, tc := range []struct {
		direction string
		want      []string
	}{
		{"", []string{"PREROUTING " + dport, "OUTPUT " + sport}},
		{DirectionServer, []string{"PREROUTING " + dport, "OUTPUT " + sport}},
		{DirectionClient, []string{"PREROUTING " + sport, "OUTPUT " + dport}},
		{DirectionForward, []string{"PREROUTING " + dport, "PREROUTING " + sport}},
		{DirectionBoth, []string{"PREROUTING " + dport, "PREROUTING " + sport, "OUTPUT " + sport, "OUTPUT " + dport}},
	} {
		r := udp53
		r.Direction = tc.direction
		var got []string
		for _, cr := range r.Rules() {
			got = append(got, cr.Chain+" "+strings.Join(cr.Args, " "))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("direction %q:\n got %q\nwant %q", tc.direction, got, tc.want)
		}
		if r.ID() != udp53.ID() {
			t.Errorf("direction %q changed the rule ID: it is in place, not a new rule", tc.direction)
		}
	}
}

func TestObserveRuleDirections(t *testing.T) {
	t.Parallel()
	with := func(d string) NotrackRule { r := udp53; r.Direction = d; return r }
	all := func(r NotrackRule) string { return ruleLine(r, "PREROUTING") + "\n" + ruleLine(r, "OUTPUT") }
	for _, d := range NotrackDirections {
		t.Run(d, func(t *testing.T) {
			r := with(d)
			fw := Firewall{LiveRaw: save(all(r)), Rules: File{Content: []byte(save(all(r)))}}
			p := ObserveRule(r, fw)
			for _, cr := range r.Rules() {
				if !p.Live[cr.Chain] || !p.File[cr.Chain] {
					t.Errorf("%s not found live and in the file: %+v", cr.Chain, p)
				}
			}
			if p.Direction != d {
				t.Errorf("read back direction %q, want %q", p.Direction, d)
			}
			// Every other direction sees the rules of d as drift in some chain.
			for _, other := range NotrackDirections {
				if other == d {
					continue
				}
				po := ObserveRule(with(other), fw)
				complete := true
				for _, cr := range with(other).Rules() {
					complete = complete && po.Live[cr.Chain]
				}
				// both holds every rule of the others (extra rules are not
				// drift); no other direction holds all of another's.
				if complete && d != DirectionBoth {
					t.Errorf("the rules of %s pass for %s: %+v", d, other, po)
				}
				if po.Direction != d {
					t.Errorf("read back direction %q under %s, want %q", po.Direction, other, d)
				}
			}
		})
	}
	// One of forward's two PREROUTING rules deleted by hand: the chain is
	// not in place, but the rule is not gone.
	fwd := with(DirectionForward)
	lines := strings.Split(ruleLine(fwd, "PREROUTING"), "\n")
	p := ObserveRule(fwd, Firewall{LiveRaw: save(lines[0]), Rules: File{Content: []byte(save(lines...))}})
	if p.Live["PREROUTING"] || !p.File["PREROUTING"] || !p.Any {
		t.Errorf("half of forward's PREROUTING rules: %+v", p)
	}
	// The port edited from --sport to --dport by hand: not the declared rule.
	edited := strings.Replace(lines[1], "--sport", "--dport", 1)
	if p := ObserveRule(fwd, Firewall{LiveRaw: save(lines[0], edited)}); p.Live["PREROUTING"] {
		t.Errorf("an edited rule passed: %+v", p)
	}
}

func TestLiveChangesDirection(t *testing.T) {
	t.Parallel()
	fwd := udp53
	fwd.Direction = DirectionForward
	running := Firewall{LiveRaw: save(ruleLine(udp53, "PREROUTING"), ruleLine(udp53, "OUTPUT"))}
	var got []string
	for _, c := range LiveChanges(running, &OwnedRules{Rule: fwd}, &OwnedRules{Rule: udp53}) {
		got = append(got, c.Op+" "+c.Chain+" "+strings.Join(c.Args[:5], " "))
	}
	// The PREROUTING --dport rule stays; OUTPUT's goes, PREROUTING --sport comes.
	want := []string{"del OUTPUT -p udp -m udp --sport", "add PREROUTING -p udp -m udp --sport"}
	if !slices.Equal(got, want) {
		t.Errorf("server -> forward: %q, want %q", got, want)
	}
	// The file: the same edit, every other byte kept.
	out := string(mustEdit(t, []byte(save(ruleLine(udp53, "PREROUTING"), ruleLine(udp53, "OUTPUT"))), &OwnedRules{Rule: fwd}, &OwnedRules{Rule: udp53}))
	if want := save(ruleLine(fwd, "PREROUTING")); out != want {
		t.Errorf("server -> forward file:\n%s\nwant\n%s", out, want)
	}
	if again := LiveChanges(Firewall{LiveRaw: out}, &OwnedRules{Rule: fwd}, &OwnedRules{Rule: fwd}); len(again) != 0 {
		t.Errorf("forward in place changes again: %+v", again)
	}
}

func TestNftDirectionFile(t *testing.T) {
	t.Parallel()
	r := NftRule{Name: "dns", Protocol: "udp", Port: "53", Chains: []string{"output", "prerouting"}, Direction: DirectionClient}
	want := `#!/usr/sbin/nft -f
# NOTRACK rules of conntrack_nft_notrack_rule "dns" (terraform-provider-conntrack).
# Written by Terraform: edits are overwritten. Loading this file replaces the table whole.
table inet conntrack_tf_dns
delete table inet conntrack_tf_dns
table inet conntrack_tf_dns {
	chain prerouting {
		type filter hook prerouting priority -300; policy accept;
		udp sport 53 notrack comment "conntrack-tf udp 53 - - client"
	}

	chain output {
		type filter hook output priority -300; policy accept;
		udp dport 53 notrack comment "conntrack-tf udp 53 - - client"
	}
}
`
	if got := string(r.File()); got != want {
		t.Errorf("client file:\n%s\nwant\n%s", got, want)
	}
	// The server rule's comment and file are what they were before
	// directions: no diff after an upgrade.
	s := r
	s.Direction = ""
	if c := s.Comment(); c != "conntrack-tf udp 53 - -" {
		t.Errorf("server comment %q", c)
	}
	s.Direction = DirectionServer
	if !strings.Contains(string(s.File()), "udp dport 53 notrack comment \"conntrack-tf udp 53 - -\"\n\t}\n\n\tchain output") {
		t.Errorf("server file:\n%s", s.File())
	}
	// A comment naming server, or an unknown direction, is not ours.
	for _, c := range []string{"conntrack-tf udp 53 - - server", "conntrack-tf udp 53 - - sideways", "conntrack-tf udp 53 - - client x"} {
		if _, ok := NftRuleFromComment(c); ok {
			t.Errorf("NftRuleFromComment(%q) accepted", c)
		}
	}
	// The longest valid rule's comment fits nft's 128 bytes.
	long := NftRule{Name: "x", Protocol: "tcp", Port: "65535:65535", Source: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
		Destination: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", Chains: NftChains, Direction: DirectionForward}
	if n := len(long.Comment()); n > 128 {
		t.Errorf("comment of %d bytes", n)
	}
}

func TestNftObserveDirection(t *testing.T) {
	t.Parallel()
	rs := fixtureRuleset(t)
	for _, r := range nftFixtureRules {
		if r.Direction == "" {
			continue
		}
		h := NftHost{Ruleset: rs, Rules: File{Path: "/etc/x.nft", Exists: true, Content: r.File()},
			Config: File{Exists: true, Content: []byte("include \"/etc/x.nft\"\n")}}
		for _, other := range NotrackDirections {
			o := r
			o.Direction = other
			if got := ObserveNft(o, h); got.LiveExact != (other == r.Direction) {
				t.Errorf("table %s (%s) observed as %s: exact %v", r.Name, r.Direction, other, got.LiveExact)
			}
		}
	}
}

// FuzzObserveRule: whatever the host's raw table holds, reading it never
// panics and reads back a known direction or none.
func FuzzObserveRule(f *testing.F) {
	for _, d := range NotrackDirections {
		r := udp53
		r.Direction = d
		f.Add(save(ruleLine(r, "PREROUTING"), ruleLine(r, "OUTPUT")))
	}
	f.Add(save("-A PREROUTING -p udp --sport 53 --dport 53 -m comment --comment conntrack-tf:" + udp53.ID() + " -j NOTRACK"))
	f.Fuzz(func(t *testing.T, raw string) {
		for _, d := range NotrackDirections {
			r := udp53
			r.Direction = d
			p := ObserveRule(r, Firewall{LiveRaw: raw, Rules: File{Content: []byte(raw)}})
			if p.Direction != "" && !slices.Contains(NotrackDirections, p.Direction) {
				t.Fatalf("direction %q", p.Direction)
			}
			for chain := range p.Live {
				if !p.Any || !slices.ContainsFunc(r.Rules(), func(cr ChainRule) bool { return cr.Chain == chain }) {
					t.Fatalf("chain %s live without a rule of %s: %+v", chain, d, p)
				}
			}
		}
	})
}

func TestUntrackedAcceptChain(t *testing.T) {
	t.Parallel()
	fwd := udp53
	fwd.Direction = DirectionForward
	filter := "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n-A FORWARD -m conntrack --ctstate ESTABLISHED -j ACCEPT\nCOMMIT\n"
	if DropsUntracked(filter, FilterChain(udp53.Direction)) || !DropsUntracked(filter, FilterChain(fwd.Direction)) {
		t.Error("a FORWARD chain that drops untracked packets concerns forward rules only")
	}
	out := string(mustEdit(t, []byte(filter), &OwnedRules{Rule: fwd, AcceptUntracked: true}, nil))
	if !strings.Contains(out, ":FORWARD DROP [0:0]\n-A FORWARD -m conntrack --ctstate UNTRACKED") {
		t.Errorf("forward's accept rule not first in FORWARD:\n%s", out)
	}
	// Back to server: the accept rule moves to INPUT.
	var got []string
	for _, c := range LiveChanges(Firewall{LiveFilter: out, LiveRaw: out}, &OwnedRules{Rule: udp53, AcceptUntracked: true}, &OwnedRules{Rule: fwd, AcceptUntracked: true}) {
		if c.Table == "filter" {
			got = append(got, c.Op+" "+c.Chain)
		}
	}
	if want := []string{"del FORWARD", "ins INPUT"}; !slices.Equal(got, want) {
		t.Errorf("forward -> server accept changes %v, want %v", got, want)
	}
	if hook := NftFilterHook(DirectionForward); hook != "forward" {
		t.Errorf("forward hook %q", hook)
	}
}
