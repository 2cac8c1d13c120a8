package conntrack

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conffile/nftinclude"
)

// NOTRACK on nftables (conntrack_nft_notrack_rule): each rule is a table
// of its own, inet conntrack_tf_NAME, with a base chain per hook
// (prerouting, output) at the raw priority (-300) holding the notrack rules
// of the rule's direction (one or two per chain: see DirectionRules).
// The table is persisted in a file of its own that replaces the table
// whole when loaded ("table X" + "delete table X" + the table), so the
// file can be loaded by `nft -f` at any time, after a `flush ruleset` or
// not, and included by the host's nftables configuration.

// NftChains are the chains a rule may be in, as the hooks they attach to.
var NftChains = []string{"prerouting", "output"}

// NftPriority is the chains' priority: raw, before conntrack (-200).
const NftPriority = -300

// NftTablePrefix starts the name of every table this provider owns; no
// other tool's table (firewalld's inet firewalld, a distribution's inet
// filter) starts with it.
const NftTablePrefix = "conntrack_tf_"

// nftTag starts each rule's comment; the rest is what the rule matches
// (NftRule.spec), so an import can learn it from the host.
const nftTag = "conntrack-tf"

var nftNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// ValidateNftName checks a rule's name: it names the table and the file.
func ValidateNftName(s string) error {
	if !nftNamePattern.MatchString(s) {
		return fmt.Errorf("%s is not 1 to 32 lower-case letters, digits and _, starting with a letter", quoteShort(s))
	}
	return nil
}

// NftRule is one NOTRACK rule set on nftables.
type NftRule struct {
	Name        string
	Protocol    string // tcp, udp or all
	Port        string // "", "80" or "1000:2000"; only with tcp/udp
	Source      string // "" or an IPv4 or IPv6 address or CIDR
	Destination string // "" or an address or CIDR of the source's family
	Chains      []string
	Direction   string // one of NotrackDirections; "" is server
}

// Table is the rule's table, without its family (inet).
func (r NftRule) Table() string { return NftTablePrefix + r.Name }

// FamilyTable is "inet TABLE", as nft names it.
func (r NftRule) FamilyTable() string { return "inet " + r.Table() }

// NftRulesFile is where a rule named name persists by default: beside
// the layout's nftables configuration.
func NftRulesFile(layout, name string) string {
	if layout == "rhel" {
		return "/etc/nftables/conntrack-tf-" + name + ".nft"
	}
	return "/etc/nftables.d/conntrack-tf-" + name + ".nft"
}

// NftConfigFile is the nftables configuration the layout's nftables
// service loads.
func NftConfigFile(layout string) string {
	if layout == "rhel" {
		return "/etc/sysconfig/nftables.conf"
	}
	return "/etc/nftables.conf"
}

// Validate checks every field; errors name the field first ("source: ...").
func (r NftRule) Validate() error {
	var errs []error
	if err := ValidateNftName(r.Name); err != nil {
		errs = append(errs, fmt.Errorf("name: %w", err))
	}
	if !slices.Contains(NotrackProtocols, r.Protocol) {
		errs = append(errs, fmt.Errorf("protocol: %s is not one of %s", quoteShort(r.Protocol), strings.Join(NotrackProtocols, ", ")))
	}
	if r.Port != "" {
		if err := ValidatePort(r.Port); err != nil {
			errs = append(errs, fmt.Errorf("port: %w", err))
		} else if r.Protocol == "all" {
			errs = append(errs, errors.New("port: a port needs protocol tcp or udp"))
		}
	}
	var fam []int
	for _, a := range []struct{ name, v string }{{"source", r.Source}, {"destination", r.Destination}} {
		if a.v == "" {
			continue
		}
		v, err := AddrFamily(a.v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", a.name, err))
			continue
		}
		if len(fam) > 0 && fam[0] != v {
			errs = append(errs, fmt.Errorf("%s: %s is IPv%d but the source is IPv%d: one rule matches one family", a.name, quoteShort(a.v), v, fam[0]))
		}
		fam = append(fam, v)
	}
	for _, c := range r.Chains {
		if !slices.Contains(NftChains, c) {
			errs = append(errs, fmt.Errorf("chains: %s is not one of %s", quoteShort(c), strings.Join(NftChains, ", ")))
		}
	}
	if len(r.Chains) == 0 {
		errs = append(errs, errors.New("chains: at least one"))
	} else if err := ValidateDirection(direction(r.Direction), r.Chains); err != nil {
		errs = append(errs, fmt.Errorf("direction: %w", err))
	}
	return errors.Join(errs...)
}

// AddrFamily is 4 or 6 for an address or CIDR (ValidateCIDR's rules: no
// IPv6 zone).
func AddrFamily(s string) (int, error) {
	for _, v := range []int{4, 6} {
		if ValidateCIDR(s, v) == nil {
			return v, nil
		}
	}
	if err := ValidateCIDR(s, 4); err != nil && !strings.Contains(err.Error(), "not an IPv4") {
		return 0, err
	}
	return 0, fmt.Errorf("%s is not an address or CIDR prefix", quoteShort(s))
}

// nftAddr is an address or CIDR as nft lists it: the network of a prefix,
// a host prefix as the bare address.
func nftAddr(s string) (family, addr string) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		a, aerr := netip.ParseAddr(s)
		if aerr != nil {
			return "", ""
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	family = "ip"
	if p.Addr().Is6() {
		family = "ip6"
	}
	p = p.Masked()
	if p.Bits() == p.Addr().BitLen() {
		return family, p.Addr().String()
	}
	return family, p.String()
}

// nftPort is a port or range as nft writes it (1000-2000).
func nftPort(p string) string { return strings.Replace(p, ":", "-", 1) }

// rules are the rule's rules (DirectionRules of its direction at its
// chains), in the order written.
func (r NftRule) rules() []PortRule {
	return DirectionRules(direction(r.Direction), r.Chains, r.Protocol != "all" && r.Port != "")
}

// Hooks are the chains r has rules in, in NftChains order (forward:
// prerouting only).
func (r NftRule) Hooks() []string {
	var out []string
	for _, c := range NftChains {
		if len(r.hookRules(c)) > 0 {
			out = append(out, c)
		}
	}
	return out
}

// hookRules are the rules of r at hook.
func (r NftRule) hookRules(hook string) []PortRule {
	var out []PortRule
	for _, pr := range r.rules() {
		if pr.Hook == hook {
			out = append(out, pr)
		}
	}
	return out
}

// matches are one rule's matches, in the order written and listed, as
// "left == right" words (see nftExprWords). The port is the destination
// or the source port as the direction has it there (the server direction:
// destination in prerouting, source in output, as in conntrack_notrack_rule).
func (r NftRule) matches(pr PortRule) []string {
	var m []string
	if r.Source != "" {
		f, a := nftAddr(r.Source)
		m = append(m, f+" saddr == "+a)
	}
	if r.Destination != "" {
		f, a := nftAddr(r.Destination)
		m = append(m, f+" daddr == "+a)
	}
	switch {
	case r.Protocol != "all" && r.Port != "":
		dir := "sport"
		if pr.Dport {
			dir = "dport"
		}
		m = append(m, r.Protocol+" "+dir+" == "+nftPort(r.Port))
	case r.Protocol != "all":
		m = append(m, "meta l4proto == "+r.Protocol)
	}
	return append(m, "notrack")
}

// statement is one rule in nft syntax.
func (r NftRule) statement(pr PortRule) string {
	var w []string
	for _, m := range r.matches(pr) {
		w = append(w, strings.Replace(m, " == ", " ", 1))
	}
	return strings.Join(w, " ") + ` comment "` + r.Comment() + `"`
}

// Comment is the rule's nft comment: the tag and what the rule matches
// ("-" for nothing), then the direction unless it is server (so a server
// rule's comment is what it was before directions), at most 128 bytes
// (nft's limit) for any valid rule.
func (r NftRule) Comment() string {
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	f := []string{nftTag, r.Protocol, dash(r.Port), dash(r.Source), dash(r.Destination)}
	if d := direction(r.Direction); d != DirectionServer {
		f = append(f, d)
	}
	return strings.Join(f, " ")
}

// NftRuleFromComment is the rule a comment of ours describes, without
// name and chains.
func NftRuleFromComment(c string) (NftRule, bool) {
	f := strings.Fields(c)
	if len(f) < 5 || len(f) > 6 || f[0] != nftTag {
		return NftRule{}, false
	}
	d := DirectionServer
	if len(f) == 6 {
		if d = f[5]; d == DirectionServer || !slices.Contains(NotrackDirections, d) {
			return NftRule{}, false // a server rule's comment names no direction
		}
	}
	und := func(s string) string {
		if s == "-" {
			return ""
		}
		return s
	}
	return NftRule{Protocol: f[1], Port: und(f[2]), Source: und(f[3]), Destination: und(f[4]), Direction: d}, true
}

// File is the rules file's content: it replaces the table whole.
func (r NftRule) File() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "#!/usr/sbin/nft -f\n%s\n", NftFileHeader(r.Name))
	b.WriteString("# Written by Terraform: edits are overwritten. Loading this file replaces the table whole.\n")
	fmt.Fprintf(&b, "table %s\ndelete table %s\ntable %s {\n", r.FamilyTable(), r.FamilyTable(), r.FamilyTable())
	first := true
	for _, c := range NftChains {
		rules := r.hookRules(c)
		if len(rules) == 0 {
			continue
		}
		if !first {
			b.WriteString("\n")
		}
		first = false
		fmt.Fprintf(&b, "\tchain %s {\n\t\ttype filter hook %s priority %d; policy accept;\n", c, c, NftPriority)
		for _, pr := range rules {
			fmt.Fprintf(&b, "\t\t%s\n", r.statement(pr))
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return []byte(b.String())
}

// NftFileHeader is the second line of the rules file of rule name: what
// a delete checks before it removes the file (a file without it is not
// ours, and is kept).
func NftFileHeader(name string) string {
	return fmt.Sprintf("# NOTRACK rules of conntrack_nft_notrack_rule %q (terraform-provider-conntrack).", name)
}

var fileComment = regexp.MustCompile(`(?m)^\s*chain (prerouting|output) \{[^}]*comment "(` + nftTag + ` [^"]*)"`)

// NftRuleFromFile is the rule a rules file of ours holds (name unset).
func NftRuleFromFile(content []byte) (NftRule, bool) {
	var r NftRule
	found := false
	for _, m := range fileComment.FindAllStringSubmatch(string(content), -1) {
		got, ok := NftRuleFromComment(m[2])
		if !ok || (found && (got.Protocol != r.Protocol || got.Port != r.Port || got.Source != r.Source || got.Destination != r.Destination || got.Direction != r.Direction)) {
			return NftRule{}, false
		}
		got.Chains = append(r.Chains, m[1])
		r, found = got, true
	}
	return r, found
}

// ---- the live side: nft -j list ruleset

// NftChain is a chain as nft -j lists it.
type NftChain struct {
	Family, Table, Name, Type, Hook, Policy string
	Prio                                    int
	HasHook                                 bool
	Rules                                   []NftListedRule
}

// NftListedRule is a rule as nft -j lists it: its expressions as words
// (nftExprWords) and its raw JSON.
type NftListedRule struct {
	Words   []string
	Comment string
	Raw     string
}

// NftRuleset is a parsed `nft -j list ruleset`.
type NftRuleset struct {
	Chains []*NftChain
}

// Table returns the chains of one table.
func (rs NftRuleset) Table(family, name string) []*NftChain {
	var out []*NftChain
	for _, c := range rs.Chains {
		if c.Family == family && c.Table == name {
			out = append(out, c)
		}
	}
	return out
}

// HasTable reports whether family name is listed (with chains or none).
func (rs NftRuleset) HasTable(family, name string) bool { return len(rs.Table(family, name)) > 0 }

// ParseNftRuleset parses `nft -j list ruleset` (or list table).
func ParseNftRuleset(out string) (NftRuleset, error) {
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	var rs NftRuleset
	if strings.TrimSpace(out) == "" {
		return rs, nil
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return rs, fmt.Errorf("nft -j list ruleset: %w", err)
	}
	byKey := map[[3]string]*NftChain{}
	for _, obj := range doc.Nftables {
		if raw, ok := obj["table"]; ok {
			var t struct{ Family, Name string }
			if json.Unmarshal(raw, &t) == nil {
				// A table without chains still exists.
				k := [3]string{t.Family, t.Name, ""}
				if byKey[k] == nil {
					byKey[k] = &NftChain{Family: t.Family, Table: t.Name}
					rs.Chains = append(rs.Chains, byKey[k])
				}
			}
		}
		if raw, ok := obj["chain"]; ok {
			var c struct {
				Family, Table, Name, Type, Hook, Policy string
				Prio                                    *int
			}
			if err := json.Unmarshal(raw, &c); err != nil {
				return rs, fmt.Errorf("nft -j list ruleset: chain: %w", err)
			}
			ch := &NftChain{Family: c.Family, Table: c.Table, Name: c.Name, Type: c.Type, Hook: c.Hook, Policy: c.Policy, HasHook: c.Hook != ""}
			if c.Prio != nil {
				ch.Prio = *c.Prio
			}
			byKey[[3]string{c.Family, c.Table, c.Name}] = ch
			rs.Chains = append(rs.Chains, ch)
		}
		if raw, ok := obj["rule"]; ok {
			var r struct {
				Family, Table, Chain, Comment string
				Expr                          []json.RawMessage
			}
			if err := json.Unmarshal(raw, &r); err != nil {
				return rs, fmt.Errorf("nft -j list ruleset: rule: %w", err)
			}
			ch := byKey[[3]string{r.Family, r.Table, r.Chain}]
			if ch == nil {
				continue
			}
			lr := NftListedRule{Comment: r.Comment, Raw: string(raw)}
			for _, e := range r.Expr {
				lr.Words = append(lr.Words, nftExprWords(e))
			}
			ch.Rules = append(ch.Rules, lr)
		}
	}
	// Drop the placeholders of tables that have chains.
	rs.Chains = slices.DeleteFunc(rs.Chains, func(c *NftChain) bool {
		return c.Name == "" && slices.ContainsFunc(rs.Chains, func(o *NftChain) bool { return o.Name != "" && o.Family == c.Family && o.Table == c.Table })
	})
	return rs, nil
}

// nftExprWords turns one expression into the words matches compares:
// "ip saddr == 10.0.0.0/8", "tcp dport == 1000-2000", "meta l4proto ==
// tcp", "notrack"; anything else is its JSON, which matches nothing of
// ours.
func nftExprWords(raw json.RawMessage) string {
	var e struct {
		Match *struct {
			Op    string
			Left  json.RawMessage
			Right json.RawMessage
		}
		Notrack *json.RawMessage `json:"notrack"`
	}
	var keys map[string]json.RawMessage
	if json.Unmarshal(raw, &keys) != nil || json.Unmarshal(raw, &e) != nil {
		return string(raw)
	}
	if _, ok := keys["notrack"]; ok && len(keys) == 1 {
		return "notrack"
	}
	if e.Match == nil || len(keys) != 1 {
		return string(raw)
	}
	var left struct {
		Payload *struct{ Protocol, Field string }
		Meta    *struct{ Key string }
	}
	if json.Unmarshal(e.Match.Left, &left) != nil {
		return string(raw)
	}
	var l string
	switch {
	case left.Payload != nil:
		l = left.Payload.Protocol + " " + left.Payload.Field
	case left.Meta != nil:
		l = "meta " + left.Meta.Key
	default:
		return string(raw)
	}
	var right struct {
		Prefix *struct {
			Addr string
			Len  int
		}
		Range []json.RawMessage
	}
	var r string
	var s string
	var n int
	switch {
	case json.Unmarshal(e.Match.Right, &s) == nil:
		r = s
	case json.Unmarshal(e.Match.Right, &n) == nil:
		r = strconv.Itoa(n)
	case json.Unmarshal(e.Match.Right, &right) == nil && right.Prefix != nil:
		r = right.Prefix.Addr + "/" + strconv.Itoa(right.Prefix.Len)
	case len(right.Range) == 2:
		r = strings.Trim(string(right.Range[0]), `"`) + "-" + strings.Trim(string(right.Range[1]), `"`)
	default:
		return string(raw)
	}
	return l + " " + e.Match.Op + " " + r
}

// NftObserved is where a rule is on the host: per declared chain, whether
// the running table holds exactly its rule; and whether the rules file and
// the include line are as the rule writes them.
type NftObserved struct {
	Live map[string]bool
	// TableLive: the table exists (what destroy deletes).
	TableLive bool
	// LiveExact: the table is exactly the rule's (no other chain or rule).
	LiveExact bool
	// File: the rules file holds exactly r.File(); Included: the
	// configuration includes it.
	File, Included bool
}

// ObserveNft compares the rule with the host.
func ObserveNft(r NftRule, h NftHost) NftObserved {
	o := NftObserved{Live: map[string]bool{}}
	chains := h.Ruleset.Table("inet", r.Table())
	o.TableLive = len(chains) > 0
	exact := o.TableLive
	for _, c := range chains {
		if c.Name == "" {
			continue
		}
		want := r.hookRules(c.Name)
		ok := len(want) > 0 && c.Type == "filter" && c.Hook == c.Name && c.Prio == NftPriority &&
			c.Policy == "accept" && len(c.Rules) == len(want)
		for i, pr := range want {
			ok = ok && slices.Equal(c.Rules[i].Words, r.matches(pr)) && c.Rules[i].Comment == r.Comment()
		}
		o.Live[c.Name] = ok
		exact = exact && ok
	}
	for _, c := range DirectionHooks(direction(r.Direction)) {
		if slices.Contains(r.Chains, c) {
			exact = exact && o.Live[c]
		}
	}
	o.LiveExact = exact
	o.File = h.Rules.Exists && string(h.Rules.Content) == string(r.File())
	o.Included = nftinclude.Has(h.Config.Content, h.Rules.Path)
	return o
}

// ImportedNftRule is the rule named name as the host holds it: from the
// running table's comments, else from its rules file.
func ImportedNftRule(name string, h NftHost) (NftRule, bool) {
	var r NftRule
	found := false
	for _, c := range h.Ruleset.Table("inet", NftTablePrefix+name) {
		for _, lr := range c.Rules {
			if got, ok := NftRuleFromComment(lr.Comment); ok && slices.Contains(NftChains, c.Name) {
				got.Chains = r.Chains
				if !slices.Contains(got.Chains, c.Name) {
					got.Chains = append(got.Chains, c.Name)
				}
				r, found = got, true
			}
		}
	}
	if !found && h.Rules.Exists {
		r, found = NftRuleFromFile(h.Rules.Content)
	}
	r.Name = name
	slices.Sort(r.Chains)
	// A direction's rules at every hook it uses are its rules at both
	// (forward uses prerouting only): read back as the default chains.
	if hooks := DirectionHooks(direction(r.Direction)); found && len(r.Chains) == len(hooks) && len(hooks) < len(NftChains) {
		r.Chains = slices.Clone(NftChains)
		slices.Sort(r.Chains)
	}
	return r, found && r.Validate() == nil
}

// NftFilterHook is the filter hook the packets a direction untracks
// reach: forward for a forward rule, input for the others (FilterChain).
func NftFilterHook(direction string) string { return strings.ToLower(FilterChain(direction)) }

// DropsUntrackedNft names the base chains at hook of the running ruleset
// that would drop untracked packets: a filter chain hooked there that
// accepts by connection state (ct state established...) and drops by
// default (policy drop, or a final drop or reject with no match), in a
// table where no rule mentions the untracked state.
func DropsUntrackedNft(rs NftRuleset, hook string) []string {
	var out []string
	for _, c := range rs.Chains {
		if c.Hook != hook || c.Type != "filter" {
			continue
		}
		byState, dropAll := false, c.Policy == "drop"
		for _, r := range c.Rules {
			if strings.Contains(r.Raw, `"state"`) && strings.Contains(r.Raw, `"established"`) {
				byState = true
			}
			if len(r.Words) == 1 && (strings.HasPrefix(r.Words[0], `{"reject"`) || strings.HasPrefix(r.Words[0], `{"drop"`)) {
				dropAll = true
			}
		}
		untracked := false
		for _, o := range rs.Table(c.Family, c.Table) {
			for _, r := range o.Rules {
				untracked = untracked || strings.Contains(r.Raw, `"untracked"`)
			}
		}
		if byState && dropAll && !untracked {
			out = append(out, c.Family+" "+c.Table+" "+c.Name)
		}
	}
	return out
}

// ---- the read (a snapshot part) and the apply

// NftHost is what the rule's read gathers.
type NftHost struct {
	Layout string
	// Nft is where the shell finds nft ("" when it is not installed).
	Nft string
	// Listed: the ruleset could be listed without loading a module
	// (nf_tables loaded or built in); otherwise no table exists.
	Listed  bool
	Ruleset NftRuleset
	// ListError is nft's complaint when listing failed.
	ListError string
	// Rules and Config are the rules file and the nftables configuration.
	Rules, Config File
	Guard         []GuardOutcome
}

// GuardNft is the guard kind of an nft rule change.
const GuardNft = "nft"

// nftProbes follow readPrelude and print the ruleset, where nfok holds
// (`nft list` would load nf_tables).
const nftProbes = `s nft_cmd; command -v nft
` + nfTablesUsable + `if command -v nft >/dev/null && nfok; then
	if out=$(nft -j list ruleset 2>&1); then s nft_ruleset; else s nft_error; fi
	printf "%s\n" "$out"
fi
gk=` + GuardNft + `
` + guardOutcomes

// NftScript is the script of the nft read alone (the snapshot has it as
// a part).
func NftScript() string { return readPrelude + nftProbes + "s end\n" }

// ParseNft parses the nft read's output; the files come from elsewhere.
func ParseNft(out string) (NftHost, error) {
	sec, err := splitSections(out)
	if err != nil {
		return NftHost{}, err
	}
	h := NftHost{Layout: parseLayout(sec), Nft: strings.TrimSpace(sec["nft_cmd"]), Guard: parseGuardOutcomes(sec)}
	ruleset, listed := sec["nft_ruleset"]
	if e, failed := sec["nft_error"]; failed {
		h.Listed, h.ListError = true, strings.TrimSpace(e)
		if h.ListError == "" {
			h.ListError = "nft -j list ruleset failed"
		}
		return h, nil
	}
	h.Listed = listed
	if h.Ruleset, err = ParseNftRuleset(ruleset); err != nil {
		return NftHost{}, err
	}
	return h, nil
}

// nftApplyBody is a guarded change (ArmScript, then this): $1 apply or
// delete, $2 the table (inet NAME), $3 the rules file. apply loads the
// file (atomic: the table is replaced whole or not at all); delete removes
// the table and the file. It prints "@@fail nft WHY" when nft refused and
// "@@done" when all of it applied.
const nftApplyBody = `set -f
case $1 in
apply) if err=$(nft -f "$3" 2>&1) && nft list table $2 >/dev/null 2>&1; then printf "@@done\n"; else printf "@@fail\tnft\t%s\n" "$(echo $err)"; fi ;;
delete)
	if nft list table $2 >/dev/null 2>&1 && ! err=$(nft delete table $2 2>&1); then printf "@@fail\tnft\t%s\n" "$(echo $err)"; exit 0; fi
	if [ -e "$3" ] && [ "$(sed -n 2p < "$3" 2>/dev/null)" != "$4" ]; then printf "@@kept\t%s\n" "$3"; printf "@@done\n"; exit 0; fi
	rm -f -- "$3" && printf "@@done\n" ;;
esac
`

// NftApplyScript is the guarded body and its arguments: load r's rules
// file (apply true), or delete r's table and its file, the file only if it
// is r's own (NftFileHeader; else "@@kept\tPATH").
func NftApplyScript(r NftRule, rulesFile string, apply bool) (string, []string) {
	mode := "delete"
	if apply {
		mode = "apply"
	}
	return nftApplyBody, []string{mode, r.FamilyTable(), rulesFile, NftFileHeader(r.Name)}
}

// NftPrepareScript makes the rules file's directory ($1) when missing.
const NftPrepareScript = `[ -d "$1" ] || mkdir -p -m 0755 -- "$1"`

// NftRemoveScript removes a rules file ($1), for a delete with no table,
// if it is ours: its second line is $2 (NftFileHeader); a file that is not
// is kept, "@@kept\tPATH".
const NftRemoveScript = `if [ -e "$1" ] || [ -L "$1" ]; then
	if [ "$(sed -n 2p < "$1" 2>/dev/null)" = "$2" ]; then rm -f -- "$1"; else printf "@@kept\t%s\n" "$1"; fi
fi`

// NftKept is the rules file a delete kept because it was not ours, from
// its report; "" if none.
func NftKept(out string) string {
	for _, line := range strings.Split(out, "\n") {
		if p, ok := strings.CutPrefix(line, "@@kept\t"); ok {
			return p
		}
	}
	return ""
}
