package conntrack

import (
	"reflect"
	"testing"
)

// /proc/modules of a host with NAT and a CT rule loaded (Debian 12, 6.1).
const procModulesNAT = `xt_CT 16384 1 - Live 0xffffffffc0a3d000
iptable_raw 16384 1 - Live 0xffffffffc0a38000
xt_MASQUERADE 16384 1 - Live 0xffffffffc0a33000
iptable_nat 16384 1 - Live 0xffffffffc0a2e000
nf_nat 57344 2 xt_MASQUERADE,iptable_nat, Live 0xffffffffc0a1f000
xt_conntrack 16384 2 - Live 0xffffffffc0a1a000
nf_conntrack 188416 4 xt_CT,xt_MASQUERADE,nf_nat,xt_conntrack, Live 0xffffffffc09e0000
nf_defrag_ipv6 24576 1 nf_conntrack, Live 0xffffffffc09d9000
nf_defrag_ipv4 16384 1 nf_conntrack, Live 0xffffffffc09d4000
ip_tables 36864 2 iptable_raw,iptable_nat, Live 0xffffffffc09c8000
`

func TestUnloadOrder(t *testing.T) {
	t.Parallel()
	loaded := ParseProcModules(procModulesNAT)
	if m := loaded["nf_conntrack"]; m.RefCount != 4 || !reflect.DeepEqual(m.UsedBy, []string{"xt_CT", "xt_MASQUERADE", "nf_nat", "xt_conntrack"}) {
		t.Fatalf("parsed %+v", m)
	}
	order, holders := UnloadOrder(loaded, ClassicBlacklist, false)
	// Holders first: nf_nat after iptable_nat, nf_conntrack last.
	if !reflect.DeepEqual(order, []string{"iptable_nat", "nf_nat", "xt_conntrack", "nf_conntrack"}) {
		t.Fatalf("order %v", order)
	}
	want := []Holder{
		{Module: "iptable_nat", Refs: 1},
		{Module: "nf_conntrack", By: "xt_CT"},
		{Module: "nf_conntrack", By: "xt_MASQUERADE"},
		{Module: "nf_nat", By: "xt_MASQUERADE"},
		{Module: "xt_conntrack", Refs: 2},
	}
	if !reflect.DeepEqual(holders, want) {
		t.Fatalf("holders\n%+v\nwant\n%+v", holders, want)
	}
	// With force the outside holders go first; rule references still block.
	order, holders = UnloadOrder(loaded, ClassicBlacklist, true)
	pos := map[string]int{}
	for i, m := range order {
		pos[m] = i
	}
	for _, before := range [][2]string{{"xt_CT", "nf_conntrack"}, {"xt_MASQUERADE", "nf_nat"}, {"nf_nat", "nf_conntrack"}, {"iptable_nat", "nf_nat"}} {
		if _, ok := pos[before[0]]; !ok || pos[before[0]] > pos[before[1]] {
			t.Fatalf("%s must come before %s in %v", before[0], before[1], order)
		}
	}
	for _, h := range holders {
		if h.By != "" {
			t.Fatalf("force left a module holder: %+v", h)
		}
	}
	// Nothing loaded: nothing to do.
	if order, holders := UnloadOrder(ParseProcModules(""), ClassicBlacklist, true); len(order)+len(holders) != 0 {
		t.Fatal(order, holders)
	}
}

func TestParseFailures(t *testing.T) {
	t.Parallel()
	got := ParseFailures("@@fail\tnf_conntrack\trmmod: ERROR: Module nf_conntrack is in use by: xt_CT\n")
	if got["nf_conntrack"] != "rmmod: ERROR: Module nf_conntrack is in use by: xt_CT" || len(got) != 1 {
		t.Fatal(got)
	}
}
