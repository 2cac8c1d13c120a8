package conntrack

import (
	"fmt"
	"slices"
	"strings"
)

// A NOTRACK rule's direction says which packets of a flow to a port it
// untracks, so that neither the request nor the reply creates an entry
// (one side left tracked fills the table with one-sided UNREPLIED entries:
// cilium/cilium#24229). The port is the service's port; source and
// destination, when set, are matched as written in every rule.
const (
	// DirectionServer: the host serves the port. PREROUTING matches it as
	// the destination port (requests), OUTPUT as the source port (replies).
	DirectionServer = "server"
	// DirectionClient: the host connects to the port elsewhere. OUTPUT
	// matches it as the destination port, PREROUTING as the source port.
	DirectionClient = "client"
	// DirectionForward: the host forwards the flow (router, NAT gateway,
	// Kubernetes node). Both directions pass PREROUTING: the port as the
	// destination port (requests) and as the source port (replies).
	DirectionForward = "forward"
	// DirectionBoth: server and client.
	DirectionBoth = "both"
)

// NotrackDirections are the directions a NOTRACK rule may have, in the
// order the docs list them; the first is the default.
var NotrackDirections = []string{DirectionServer, DirectionClient, DirectionForward, DirectionBoth}

// PortRule is one rule of a direction: its hook, and whether the port is
// matched as the destination port (else as the source port).
type PortRule struct {
	Hook  string // prerouting or output
	Dport bool
}

// directionRules are the rules of each direction, in the order they are
// written.
var directionRules = map[string][]PortRule{
	DirectionServer:  {{"prerouting", true}, {"output", false}},
	DirectionClient:  {{"prerouting", false}, {"output", true}},
	DirectionForward: {{"prerouting", true}, {"prerouting", false}},
	DirectionBoth:    {{"prerouting", true}, {"prerouting", false}, {"output", false}, {"output", true}},
}

// DirectionRules are the rules direction makes at hooks (prerouting,
// output; any case), in hook order. Without a port a rule matches no port,
// so the rules of one hook are the same rule and appear once. An unknown
// direction makes none.
func DirectionRules(direction string, hooks []string, port bool) []PortRule {
	var out []PortRule
	for _, hook := range []string{"prerouting", "output"} {
		if !slices.ContainsFunc(hooks, func(h string) bool { return strings.EqualFold(h, hook) }) {
			continue
		}
		for _, pr := range directionRules[direction] {
			if pr.Hook != hook {
				continue
			}
			if !port {
				pr.Dport = true
				if slices.Contains(out, pr) {
					continue
				}
			}
			out = append(out, pr)
		}
	}
	return out
}

// DirectionHooks are the hooks direction puts rules at (forward only
// prerouting).
func DirectionHooks(direction string) []string {
	var out []string
	for _, pr := range directionRules[direction] {
		if !slices.Contains(out, pr.Hook) {
			out = append(out, pr.Hook)
		}
	}
	return out
}

// ValidateDirection checks a direction and that it puts a rule in one of
// the declared chains (hooks, any case).
func ValidateDirection(direction string, chains []string) error {
	if _, ok := directionRules[direction]; !ok {
		return fmt.Errorf("%s is not one of %s", quoteShort(direction), strings.Join(NotrackDirections, ", "))
	}
	if len(chains) > 0 && len(DirectionRules(direction, chains, true)) == 0 {
		hooks := strings.Join(DirectionHooks(direction), ", ")
		if chains[0] == strings.ToUpper(chains[0]) {
			hooks = strings.ToUpper(hooks) // iptables' chain names
		}
		return fmt.Errorf("direction %q puts its rules in %s only, and chains declares %s: add %s to chains",
			direction, hooks, strings.Join(chains, ", "), hooks)
	}
	return nil
}

// DirectionDoc says, for the docs, which rules a direction makes: the
// iptables chains' or the nft hooks' names (upper is true for iptables).
func DirectionDoc(direction string, upper bool) string {
	var parts []string
	for _, pr := range directionRules[direction] {
		hook := pr.Hook
		if upper {
			hook = strings.ToUpper(hook)
		}
		role := "source"
		if pr.Dport {
			role = "destination"
		}
		parts = append(parts, "`"+hook+"` with `port` as the "+role+" port")
	}
	return strings.Join(parts, ", ")
}

// DirectionOf is the direction whose rules are exactly found: at the
// declared chains if one's are, else at the hooks found has rules at (the
// first such in NotrackDirections); "" when none is. It is what an import
// or an upgraded state reads back from the host.
func DirectionOf(found []PortRule, chains []string, port bool) string {
	var hooks []string
	for _, pr := range found {
		hooks = append(hooks, pr.Hook)
	}
	for _, at := range [][]string{chains, hooks} {
		for _, d := range NotrackDirections {
			want := DirectionRules(d, at, port)
			if len(want) == len(found) && !slices.ContainsFunc(want, func(pr PortRule) bool { return !slices.Contains(found, pr) }) {
				return d
			}
		}
	}
	return ""
}

// direction is d, or the default (server) when unset.
func direction(d string) string {
	if d == "" {
		return DirectionServer
	}
	return d
}
