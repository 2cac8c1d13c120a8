package conntrack

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// fixtureRuleset is testdata/nft-ruleset.json: nft's own listing of the
// files of nftFixtureRules (each loaded twice: the file replaces its table)
// and of testdata/nft-firewalls.nft.
func fixtureRuleset(t *testing.T) NftRuleset {
	b, err := os.ReadFile("testdata/nft-ruleset.json")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := ParseNftRuleset(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestObserveNftOnNftsOwnListing(t *testing.T) {
	t.Parallel()
	rs := fixtureRuleset(t)
	for _, r := range nftFixtureRules {
		t.Run(r.Name, func(t *testing.T) {
			if err := r.Validate(); err != nil {
				t.Fatal(err)
			}
			h := NftHost{Ruleset: rs, Rules: File{Path: "/etc/x.nft", Exists: true, Content: r.File()},
				Config: File{Exists: true, Content: []byte("include \"/etc/x.nft\"\n")}}
			o := ObserveNft(r, h)
			if !o.TableLive || !o.LiveExact || !o.File || !o.Included {
				t.Fatalf("%+v", o)
			}
			for _, c := range r.Chains {
				if len(r.hookRules(c)) > 0 && !o.Live[c] {
					t.Errorf("chain %s not live", c)
				}
			}
			// Another rule's expectations do not match this table.
			other := r
			other.Port, other.Protocol = "9", "udp"
			if ObserveNft(other, h).LiveExact {
				t.Fatal("a different rule matched")
			}
			// Import learns the rule from the listing, and from the file alone.
			got, ok := ImportedNftRule(r.Name, h)
			want := r
			slices.Sort(want.Chains)
			if !ok || !equalRule(got, want) {
				t.Fatalf("imported %+v, want %+v", got, want)
			}
			got, ok = ImportedNftRule(r.Name, NftHost{Rules: h.Rules})
			if !ok || !equalRule(got, want) {
				t.Fatalf("imported from the file %+v, want %+v", got, want)
			}
			if len(r.Comment()) > 128 {
				t.Fatalf("comment over nft's 128 bytes: %q", r.Comment())
			}
		})
	}
}

func equalRule(a, b NftRule) bool {
	return a.Name == b.Name && a.Protocol == b.Protocol && a.Port == b.Port && a.Source == b.Source &&
		a.Destination == b.Destination && slices.Equal(a.Chains, b.Chains) && direction(a.Direction) == direction(b.Direction)
}

func TestDropsUntrackedNft(t *testing.T) {
	t.Parallel()
	got := DropsUntrackedNft(fixtureRuleset(t), "input")
	// inet filter: policy drop, state vmap, no untracked; ip legacyish:
	// final reject. The firewalld-like table accepts untracked in its zone chain.
	want := []string{"inet filter input", "ip legacyish INPUT"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestNftRuleValidate(t *testing.T) {
	t.Parallel()
	longest := NftRule{Name: strings.Repeat("a", 32), Protocol: "tcp", Port: "65535:65535",
		Source: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0/124", Destination: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", Chains: NftChains}
	if err := longest.Validate(); err != nil || len(longest.Comment()) > 128 {
		t.Fatalf("%v, comment %d bytes", err, len(longest.Comment()))
	}
	for _, bad := range []NftRule{
		{Name: "Web", Protocol: "tcp", Chains: NftChains},
		{Name: "w;x", Protocol: "tcp", Chains: NftChains},
		{Name: strings.Repeat("a", 33), Protocol: "tcp", Chains: NftChains},
		{Name: "w", Protocol: "icmp", Chains: NftChains},
		{Name: "w", Protocol: "all", Port: "80", Chains: NftChains},
		{Name: "w", Protocol: "tcp", Port: "80-90", Chains: NftChains},
		{Name: "w", Protocol: "tcp", Source: "10.0.0.0/8", Destination: "fd00::1", Chains: NftChains},
		{Name: "w", Protocol: "tcp", Source: `10.0.0.1" accept`, Chains: NftChains},
		{Name: "w", Protocol: "tcp", Source: "fe80::1%eth0", Chains: NftChains},
		{Name: "w", Protocol: "tcp", Chains: []string{"input"}},
		{Name: "w", Protocol: "tcp"},
	} {
		if bad.Validate() == nil {
			t.Errorf("%+v passed", bad)
		}
	}
}

func TestParseNftFailures(t *testing.T) {
	t.Parallel()
	if _, err := ParseNftRuleset("{not json"); err == nil {
		t.Fatal("bad JSON parsed")
	}
	out := "junk\n@@ctfacts:begin\n@@ctfacts:nft_cmd\n/usr/sbin/nft\n@@ctfacts:nft_error\nError: Operation not permitted\n@@ctfacts:end\n"
	h, err := ParseNft(out)
	if err != nil || h.Nft != "/usr/sbin/nft" || !h.Listed || !strings.Contains(h.ListError, "not permitted") {
		t.Fatalf("%+v %v", h, err)
	}
	// No nf_tables loaded: nothing listed, nothing of ours runs.
	h, err = ParseNft("@@ctfacts:begin\n@@ctfacts:nft_cmd\n/usr/sbin/nft\n@@ctfacts:end\n")
	if err != nil || h.Listed || len(h.Ruleset.Chains) != 0 {
		t.Fatalf("%+v %v", h, err)
	}
}

// The snapshot reads the ruleset only for an nft rule; its request grows
// and covers as the other reads do.
func TestSnapshotNftPart(t *testing.T) {
	t.Parallel()
	var r SnapshotRequest
	if script, _ := SnapshotScript(r); strings.Contains(script, "pn\n") || strings.Contains(script, "ctp=N0") {
		t.Fatal("the nft part is read without being asked for")
	}
	if !r.Add(SnapshotRequest{Nft: true}) || r.Add(SnapshotRequest{Nft: true}) || !r.Clone().Nft || !r.Covers(SnapshotRequest{Nft: true}) {
		t.Fatal("Add/Clone/Covers of Nft")
	}
	script, _ := SnapshotScript(r)
	if !strings.Contains(script, "ctp=N0/; pn") || !strings.Contains(script, "nfok; then\n\tif out=$(nft -j list ruleset") {
		t.Fatal("no nft part in the script")
	}
	out := "@@ctfacts:begin\n@@ctfacts:N0/nft_cmd\n/usr/sbin/nft\n@@ctfacts:N0/nft_ruleset\n" +
		`{"nftables": [{"table": {"family": "inet", "name": "conntrack_tf_x", "handle": 1}}]}` + "\n@@ctfacts:end\n"
	s, err := ParseSnapshot(out, r)
	if err != nil {
		t.Fatal(err)
	}
	h, ok, err := s.Nft()
	if err != nil || !ok || !h.Listed || !h.Ruleset.HasTable("inet", "conntrack_tf_x") {
		t.Fatalf("%+v %v %v", h, ok, err)
	}
}

func FuzzNftRuleFromComment(f *testing.F) {
	for _, r := range nftFixtureRules {
		f.Add(r.Comment())
	}
	f.Fuzz(func(t *testing.T, c string) {
		r, ok := NftRuleFromComment(c)
		if !ok {
			return
		}
		r.Name, r.Chains = "x", NftChains
		if r.Validate() != nil {
			return
		}
		// A valid rule's comment reads back as itself.
		back, ok := NftRuleFromComment(r.Comment())
		back.Name, back.Chains = "x", NftChains
		if !ok || !equalRule(back, r) {
			t.Fatalf("%q -> %+v -> %+v", c, r, back)
		}
	})
}
