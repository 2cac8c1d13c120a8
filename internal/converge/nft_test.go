package converge

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
)

const (
	nftRules = "/etc/nftables.d/conntrack-tf-a.nft"
	nftConf  = "/etc/nftables.conf"
)

// ruleA is rule "a" of the conntrack package's nft fixture: its table is
// running in testdata/nft-ruleset.json.
var ruleA = conntrack.NftRule{Name: "a", Protocol: "tcp", Port: "8080", Chains: []string{"output", "prerouting"}}

func nftBase(t *testing.T, running bool, rules, conf *string) *conntrack.NftHost {
	h := &conntrack.NftHost{Layout: "debian", Nft: "/usr/sbin/nft", Listed: true,
		Rules: conntrack.File{Path: nftRules}, Config: conntrack.File{Path: nftConf}}
	if running {
		b, err := os.ReadFile("../conntrack/testdata/nft-ruleset.json")
		if err != nil {
			t.Fatal(err)
		}
		if h.Ruleset, err = conntrack.ParseNftRuleset(string(b)); err != nil {
			t.Fatal(err)
		}
	}
	if rules != nil {
		h.Rules.Exists, h.Rules.Content = true, []byte(*rules)
	}
	if conf != nil {
		h.Config.Exists, h.Config.Content = true, []byte(*conf)
	}
	return h
}

func nftStub(t *testing.T) (*stubHost, *[]string, *[]string) {
	h := newStub()
	var armed, applied []string
	h.answers[OpArmGuard] = func(args []string) (string, error) {
		armed = args
		if len(h.ops) > 1 && strings.Contains(strings.Join(h.ops, ","), "write ") {
			t.Error("a file was written before the guard saved it")
		}
		return "@@armed\t" + guardDir + "\tsetsid\n", nil
	}
	h.answers[OpApplyNft] = func(args []string) (string, error) { applied = args; return "@@done\n", nil }
	h.answers["settle a guarded change"] = func([]string) (string, error) { return "confirmed\n", nil }
	h.answers["make the directory of "+nftRules] = func([]string) (string, error) { return "", nil }
	h.answers["remove "+nftRules] = func([]string) (string, error) { delete(h.files, nftRules); return "", nil }
	return h, &armed, &applied
}

func TestNftCreateIsGuardedAndKeepsTheConfig(t *testing.T) {
	h, armed, applied := nftStub(t)
	stock := "#!/usr/sbin/nft -f\n\nflush ruleset\n"
	h.files[nftConf] = stock
	res, err := Nft(t.Context(), h, NftChange{Plan: &ruleA, Name: "a", Rollback: 30 * time.Second, Label: "adding a"}, nftBase(t, false, nil, &stock))
	if err != nil || !res.Guard.Confirmed || res.RulesFile != nftRules || res.ConfigFile != nftConf {
		t.Fatalf("%+v %v", res, err)
	}
	want := []string{"30", "nft", "adding a", "1", "nft", "inet conntrack_tf_a", "2", nftRules, nftConf, "0", "0"}
	if strings.Join(*armed, ",") != strings.Join(want, ",") {
		t.Fatalf("guard arguments %q", *armed)
	}
	if strings.Join(*applied, ",") != "apply,inet conntrack_tf_a,"+nftRules+","+conntrack.NftFileHeader("a") {
		t.Fatalf("apply arguments %q", *applied)
	}
	if h.files[nftRules] != string(ruleA.File()) || h.files[nftConf] != stock+`include "`+nftRules+`"`+"\n" {
		t.Fatalf("files %q", h.files)
	}
}

// The table runs as declared and only the include line is missing: the
// files are written, nothing is armed.
func TestNftFileOnlyIsNotGuarded(t *testing.T) {
	h, armed, _ := nftStub(t)
	rules, conf := string(ruleA.File()), "flush ruleset"
	h.files[nftRules], h.files[nftConf] = rules, conf
	res, err := Nft(t.Context(), h, NftChange{Plan: &ruleA, Name: "a"}, nftBase(t, true, &rules, &conf))
	if err != nil || res.Guard.Armed || *armed != nil {
		t.Fatalf("%+v %v armed %q", res, err, *armed)
	}
	if h.files[nftConf] != "flush ruleset\ninclude \""+nftRules+"\"\n" {
		t.Fatalf("config %q", h.files[nftConf])
	}
}

func TestNftDeleteRemovesTableFileAndInclude(t *testing.T) {
	h, armed, applied := nftStub(t)
	rules, conf := string(ruleA.File()), "flush ruleset\ninclude \""+nftRules+"\"\ninclude \"/etc/other.nft\"\n"
	h.files[nftRules], h.files[nftConf] = rules, conf
	res, err := Nft(t.Context(), h, NftChange{Prior: &ruleA, Name: "a", Label: "removing a"}, nftBase(t, true, &rules, &conf))
	if err != nil || !res.Guard.Confirmed || *armed == nil {
		t.Fatalf("%+v %v", res, err)
	}
	// The file goes only if it is ours: the body checks its header.
	if strings.Join(*applied, ",") != "delete,inet conntrack_tf_a,"+nftRules+","+conntrack.NftFileHeader("a") {
		t.Fatalf("apply arguments %q", *applied)
	}
	if h.files[nftConf] != "flush ruleset\ninclude \"/etc/other.nft\"\n" {
		t.Fatalf("config %q", h.files[nftConf])
	}
	// No table running: the file goes without a guard.
	h2, armed2, _ := nftStub(t)
	h2.files[nftRules], h2.files[nftConf] = rules, conf
	if _, err := Nft(t.Context(), h2, NftChange{Prior: &ruleA, Name: "a"}, nftBase(t, false, &rules, &conf)); err != nil || *armed2 != nil {
		t.Fatalf("%v armed %q", err, *armed2)
	}
	if _, ok := h2.files[nftRules]; ok {
		t.Fatal("rules file left")
	}
}

func TestNftWithoutNft(t *testing.T) {
	h, _, _ := nftStub(t)
	base := nftBase(t, false, nil, nil)
	base.Nft = ""
	_, err := Nft(t.Context(), h, NftChange{Plan: &ruleA, Name: "a"}, base)
	if !errors.Is(err, ErrNoNft) {
		t.Fatalf("err %v", err)
	}
	if _, err := Nft(t.Context(), h, NftChange{Prior: &ruleA, Name: "a"}, base); err != nil {
		t.Fatalf("delete without nft: %v", err)
	}
}
