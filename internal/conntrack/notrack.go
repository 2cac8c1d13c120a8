package conntrack

import (
	"crypto/sha256"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// NotrackRule is one remedy-3 rule: traffic matching it is not tracked.
type NotrackRule struct {
	IPVersion   int    // 4 or 6
	Protocol    string // tcp, udp or all
	Port        string // "" (any), "80" or "1000:2000"; only with tcp/udp
	Source      string // "" or a CIDR
	Destination string // "" or a CIDR
	Chains      []string
	// Direction is one of NotrackDirections ("" is server): which chains
	// match the port as destination and which as source (see Rules).
	Direction string
	Target    string // CT (-j CT --notrack) or NOTRACK
	Comment   string
}

// Chains a notrack rule may go in (the raw table's built-in chains).
var NotrackChains = []string{"PREROUTING", "OUTPUT"}

// Targets a notrack rule may use.
var NotrackTargets = []string{"CT", "NOTRACK"}

// Protocols a notrack rule may match.
var NotrackProtocols = []string{"tcp", "udp", "all"}

// TagPrefix starts the comment of every rule this provider owns.
const TagPrefix = "conntrack-tf:"

// ID identifies the rule by what it matches (not by chains, direction,
// target or comment, which can change in place): the tag on its iptables
// rules.
func (r NotrackRule) ID() string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%d|%s|%s|%s|%s", r.IPVersion, r.Protocol, r.Port, r.Source, r.Destination)))
	return fmt.Sprintf("%x", sum[:6])
}

// Tag is the comment on the rule's iptables rules.
func (r NotrackRule) Tag() string {
	if r.Comment == "" {
		return TagPrefix + r.ID()
	}
	return TagPrefix + r.ID() + " " + r.Comment
}

// IDOfTag returns the rule ID a comment carries, if it is one of ours.
func IDOfTag(comment string) (string, bool) {
	rest, ok := strings.CutPrefix(comment, TagPrefix)
	if !ok {
		return "", false
	}
	id, _, _ := strings.Cut(rest, " ")
	return id, id != ""
}

// ChainRule is one iptables rule of a NotrackRule: its chain and
// arguments.
type ChainRule struct {
	Chain string
	PortRule
	Args []string
}

// Rules are the iptables rules of r: per rule of its direction at its
// chains (DirectionRules), in that order. The server direction is the
// usual server recipe: PREROUTING matches the port as destination (traffic
// to a local service), OUTPUT as source (its replies).
func (r NotrackRule) Rules() []ChainRule {
	var out []ChainRule
	for _, pr := range DirectionRules(direction(r.Direction), r.Chains, r.Protocol != "all" && r.Port != "") {
		out = append(out, ChainRule{Chain: strings.ToUpper(pr.Hook), PortRule: pr, Args: r.args(pr)})
	}
	return out
}

// args is one rule as iptables arguments, in the order iptables-save
// prints them.
func (r NotrackRule) args(pr PortRule) []string {
	var a []string
	if r.Source != "" {
		a = append(a, "-s", r.Source)
	}
	if r.Destination != "" {
		a = append(a, "-d", r.Destination)
	}
	if r.Protocol != "all" {
		a = append(a, "-p", r.Protocol)
		if r.Port != "" {
			dir := "--sport"
			if pr.Dport {
				dir = "--dport"
			}
			a = append(a, "-m", r.Protocol, dir, r.Port)
		}
	}
	a = append(a, "-m", "comment", "--comment", r.Tag())
	if r.Target == "NOTRACK" {
		return append(a, "-j", "NOTRACK")
	}
	return append(a, "-j", "CT", "--notrack")
}

// ParsedRule is what matters of an iptables rule for comparing it with a
// NotrackRule: how two backends print the same rule differently (NOTRACK vs
// CT --notrack, /32 suffixes, -m tcp) washes out.
type ParsedRule struct {
	Chain       string
	Protocol    string
	Port        string
	Dport       bool // the port is the destination port
	Source      string
	Destination string
	Notrack     bool
	Tag         string
}

// ParseRuleArgs reads the fields of a rule given as iptables-save arguments.
func ParseRuleArgs(chain string, args []string) ParsedRule {
	p := ParsedRule{Chain: chain, Protocol: "all"}
	for i := 0; i < len(args); i++ {
		next := func() string {
			if i+1 < len(args) {
				i++
				return args[i]
			}
			return ""
		}
		switch args[i] {
		case "-s", "--source":
			p.Source = canonicalCIDR(next())
		case "-d", "--destination":
			p.Destination = canonicalCIDR(next())
		case "-p", "--protocol":
			p.Protocol = next()
		case "--dport", "--destination-port":
			p.Port, p.Dport = next(), true
		case "--sport", "--source-port":
			p.Port, p.Dport = next(), false
		case "--comment":
			p.Tag = next()
		case "-j", "--jump":
			switch next() {
			case "NOTRACK":
				p.Notrack = true
			case "CT":
				p.Notrack = slices.Contains(args[i+1:], "--notrack")
			}
		}
	}
	return p
}

// Matches reports whether an iptables rule is this rule's rule cr.
func (r NotrackRule) Matches(p ParsedRule, cr ChainRule) bool {
	return p.Chain == cr.Chain && p.Notrack && p.Tag == r.Tag() &&
		p.Protocol == r.Protocol && p.Port == r.Port && (r.Port == "" || p.Dport == cr.Dport) &&
		p.Source == canonicalCIDR(r.Source) && p.Destination == canonicalCIDR(r.Destination)
}

// canonicalCIDR prints an address the way iptables-save does: with a
// prefix length, host bits cleared. Unparsable input is kept as it is.
func canonicalCIDR(s string) string {
	if s == "" {
		return ""
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked().String()
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()).String()
	}
	return s
}

var portPattern = regexp.MustCompile(`^([0-9]{1,5})(:([0-9]{1,5}))?$`)

// ValidatePort checks "80" or "1000:2000" (1..65535, low <= high).
func ValidatePort(s string) error {
	m := portPattern.FindStringSubmatch(s)
	if m == nil {
		return fmt.Errorf("%q is not a port (80) or a range (1000:2000)", s)
	}
	lo, _ := strconv.Atoi(m[1])
	hi := lo
	if m[3] != "" {
		hi, _ = strconv.Atoi(m[3])
	}
	switch {
	case lo < 1 || hi > 65535 || lo > 65535:
		return fmt.Errorf("ports are 1 to 65535, got %q", s)
	case lo > hi:
		return fmt.Errorf("range %q runs backwards: write %d:%d", s, hi, lo)
	}
	return nil
}

// ValidateCIDR checks an address or prefix of the given IP version. An IPv6
// zone ("fe80::1%eth0") is refused: iptables cannot match one, and the zone
// text would reach the rule's arguments unchecked.
func ValidateCIDR(s string, ipVersion int) error {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		a, aerr := netip.ParseAddr(s)
		if aerr != nil {
			return fmt.Errorf("%s is not an address or CIDR prefix", quoteShort(s))
		}
		if a.Zone() != "" {
			return fmt.Errorf("%s has an IPv6 zone (%%...): iptables matches addresses without zones; write %s", quoteShort(s), a.WithZone(""))
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if (ipVersion == 4) != p.Addr().Is4() {
		return fmt.Errorf("%s is not an IPv%d address", quoteShort(s), ipVersion)
	}
	return nil
}

// commentPattern keeps comments to what survives iptables, a shell and a
// rules file unchanged.
var commentPattern = regexp.MustCompile(`^[A-Za-z0-9 _.,:/+=@-]{0,200}$`)

// ValidateComment refuses quotes, newlines and shell metacharacters.
func ValidateComment(s string) error {
	if !commentPattern.MatchString(s) {
		return fmt.Errorf("use at most 200 letters, digits, spaces and _ . , : / + = @ - (no quotes, newlines or shell characters)")
	}
	return nil
}

// quoteShort quotes s for a message, cut to its first 64 bytes so that a
// hostile 10 kB value does not flood the diagnostics.
func quoteShort(s string) string {
	if len(s) > 64 {
		return fmt.Sprintf("%q... (%d bytes)", s[:64], len(s))
	}
	return fmt.Sprintf("%q", s)
}
