package conntrack

import (
	"slices"
	"strings"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conffile/iptables"
)

// OwnedRules is what one conntrack_notrack_rule owns on a host: its raw
// rules and, with AcceptUntracked, the filter rule that accepts state
// UNTRACKED first in the chain its packets reach (FilterChain: INPUT, or
// FORWARD for a forward rule).
type OwnedRules struct {
	Rule            NotrackRule
	AcceptUntracked bool
}

// UntrackedAccept is the filter rule that AcceptUntracked owns.
func UntrackedAccept(rule NotrackRule) []string {
	return []string{"-m", "conntrack", "--ctstate", "UNTRACKED", "-m", "comment", "--comment", TagPrefix + rule.ID() + " untracked", "-j", "ACCEPT"}
}

// EditRules rewrites a rules file's raw (and filter) rules of prior into
// those of plan (either may be nil), keeping every other byte. A rule
// iptables-restore could not read back is an error, and nothing changes.
func EditRules(content []byte, plan, prior *OwnedRules) ([]byte, error) {
	f := iptables.Parse(content)
	for _, o := range []*OwnedRules{prior, plan} {
		if o == nil {
			continue
		}
		id := o.Rule.ID()
		owned := func(ir iptables.Rule) bool {
			got, ok := IDOfTag(ParseRuleArgs(ir.Chain, ir.Args).Tag)
			return ok && got == id
		}
		f.DeleteRules("raw", owned)
		f.DeleteRules("filter", owned)
	}
	if plan != nil {
		for _, cr := range plan.Rule.Rules() {
			if err := f.AddRule("raw", cr.Chain, cr.Args); err != nil {
				return content, err
			}
		}
		if plan.AcceptUntracked {
			if err := f.InsertRule("filter", FilterChain(plan.Rule.Direction), UntrackedAccept(plan.Rule)); err != nil {
				return content, err
			}
		}
	}
	return f.Bytes(), nil
}

// LiveChanges turns the difference between the running rules and plan into
// iptables changes: delete what prior owned and plan does not declare (by
// the exact arguments read from the host), add what is missing.
func LiveChanges(fw Firewall, plan, prior *OwnedRules) []Change {
	var changes []Change
	type wanted struct {
		table, chain string
		args         []string
		present      bool
	}
	var want []*wanted
	if plan != nil {
		for _, cr := range plan.Rule.Rules() {
			want = append(want, &wanted{table: "raw", chain: cr.Chain, args: cr.Args})
		}
		if plan.AcceptUntracked {
			want = append(want, &wanted{table: "filter", chain: FilterChain(plan.Rule.Direction), args: UntrackedAccept(plan.Rule)})
		}
	}
	// Adds go in table and chain order, a chain's rules in their order.
	slices.SortStableFunc(want, func(a, b *wanted) int { return strings.Compare(a.table+" "+a.chain, b.table+" "+b.chain) })
	ids := map[string]bool{}
	for _, o := range []*OwnedRules{prior, plan} {
		if o != nil {
			ids[o.Rule.ID()] = true
		}
	}
	for _, table := range []string{"raw", "filter"} {
		live := fw.LiveRaw
		if table == "filter" {
			live = fw.LiveFilter
		}
		for _, ir := range iptables.Parse([]byte(live)).Rules(table) {
			id, ok := IDOfTag(ParseRuleArgs(ir.Chain, ir.Args).Tag)
			if !ok || !ids[id] {
				continue
			}
			i := slices.IndexFunc(want, func(w *wanted) bool {
				return !w.present && w.table == table && w.chain == ir.Chain && (slices.Equal(w.args, ir.Args) || sameNotrack(w.args, ir))
			})
			if i >= 0 {
				want[i].present = true
				continue
			}
			changes = append(changes, Change{Op: "del", Table: table, Chain: ir.Chain, Args: ir.Args})
		}
	}
	for _, w := range want {
		if w.present {
			continue
		}
		op := "add"
		if w.table == "filter" {
			op = "ins" // before any DROP or REJECT
		}
		changes = append(changes, Change{Op: op, Table: w.table, Chain: w.chain, Args: w.args})
	}
	return changes
}

// sameNotrack treats a running rule as the wanted one when it matches the
// same traffic with the same tag, whatever target spelling the backend
// prints (iptables-nft shows -j NOTRACK as -j CT --notrack).
func sameNotrack(want []string, ir iptables.Rule) bool {
	return ParseRuleArgs(ir.Chain, want) == ParseRuleArgs(ir.Chain, ir.Args)
}

// Presence says where each chain's rules of a NotrackRule exist.
type Presence struct {
	// Live and File hold the chains all of whose rules (NotrackRule.Rules)
	// run, and are in the rules file.
	Live, File map[string]bool
	// Any: some rule of the NotrackRule runs or is in the file.
	Any     bool
	Comment string // the comment found on the host (after the tag)
	Target  string
	// Direction is the direction whose rules are the ones found (running,
	// else in the file) at the chains they are in, whatever the rule
	// declares: what an import reads back. "" when no direction's are.
	Direction string
}

// portRules are every rule a direction can make.
var portRules = []PortRule{{"prerouting", true}, {"prerouting", false}, {"output", true}, {"output", false}}

// ObserveRule finds rule's tagged rules in the running raw table and in
// the rules file.
func ObserveRule(rule NotrackRule, fw Firewall) Presence {
	p := Presence{Live: map[string]bool{}, File: map[string]bool{}, Comment: rule.Comment, Target: rule.Target}
	id := rule.ID()
	want := rule.Rules()
	hasPort := rule.Protocol != "all" && rule.Port != ""
	scan := func(rules []iptables.Rule, into map[string]bool) []PortRule {
		var found []PortRule
		have := map[int]bool{}
		for _, ir := range rules {
			parsed := ParseRuleArgs(ir.Chain, ir.Args)
			got, ok := IDOfTag(parsed.Tag)
			if !ok || got != id || !parsed.Notrack {
				continue
			}
			probe := rule
			probe.Comment = strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(parsed.Tag, TagPrefix), id))
			for _, pr := range portRules {
				cr := ChainRule{Chain: strings.ToUpper(pr.Hook), PortRule: pr}
				if (hasPort || pr.Dport) && probe.Matches(parsed, cr) && !slices.Contains(found, pr) {
					found = append(found, pr)
				}
			}
			for i, cr := range want {
				if probe.Matches(parsed, cr) {
					have[i] = true
					p.Any = true
					p.Comment = probe.Comment
				}
			}
		}
		for _, cr := range want {
			into[cr.Chain] = true
		}
		for i, cr := range want {
			if !have[i] {
				delete(into, cr.Chain)
			}
		}
		return found
	}
	// The running rule's comment wins: after a rollback (or a cut between
	// the file write and the live change) the file holds the new comment and
	// the running table the old one, and the plan must show that.
	inFile := scan(iptables.Parse(fw.Rules.Content).Rules("raw"), p.File)
	live := scan(iptables.Parse([]byte(fw.LiveRaw)).Rules("raw"), p.Live)
	if len(live) == 0 {
		live = inFile
	}
	p.Direction = DirectionOf(live, rule.Chains, hasPort)
	return p
}

// FilterChain is the filter table's chain that the packets a direction
// untracks reach: FORWARD for a forward rule (the flow passes through the
// host), INPUT for the others (the host is an end of the flow).
func FilterChain(direction string) string {
	if direction == DirectionForward {
		return "FORWARD"
	}
	return "INPUT"
}

// DropsUntracked reports the classic trap: the filter chain drops by
// default (policy or a final catch-all DROP/REJECT) and no rule accepts
// UNTRACKED.
func DropsUntracked(filter, chain string) bool {
	f := iptables.Parse([]byte(filter))
	policy, _ := f.Policy("filter", chain)
	drops := policy == "DROP"
	for _, rule := range f.Rules("filter") {
		if rule.Chain != chain {
			continue
		}
		joined := strings.Join(rule.Args, " ")
		if strings.Contains(joined, "UNTRACKED") && strings.HasSuffix(joined, "-j ACCEPT") {
			return false
		}
		if len(rule.Args) == 2 && rule.Args[0] == "-j" && (rule.Args[1] == "DROP" || rule.Args[1] == "REJECT") {
			drops = true
		}
	}
	return drops
}

// RemoveFileScript removes the file $1, if it exists.
const RemoveFileScript = `rm -f -- "$1"`
