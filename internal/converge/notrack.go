package converge

import (
	"context"
	"time"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
)

// ReadFirewall reads the rules file (declared, or the layout's default
// when empty) and the running raw and filter tables of one IP version.
func ReadFirewall(ctx context.Context, h Host, declared string, ipVersion int) (*conntrack.Firewall, error) {
	script, args := conntrack.FirewallScript(declared, ipVersion)
	fw, err := read(ctx, h, ObjFirewall, "read firewall", script, args, func(out string) (conntrack.Firewall, error) {
		return conntrack.ParseFirewall(out, declared, ipVersion)
	})
	if err != nil {
		return nil, err
	}
	if fw.Rules.IsDir {
		return nil, &DirError{Path: fw.Rules.Path}
	}
	return &fw, nil
}

// NotrackChange is a conntrack_notrack_rule apply: Plan's rules instead
// of Prior's (Plan nil: delete; Prior nil: create).
type NotrackChange struct {
	Plan, Prior *conntrack.OwnedRules
	// RulesFile is the declared rules file; empty for the layout's default.
	RulesFile string
	IPVersion int
	// Rollback is how long the host waits for a new login to confirm a
	// live change before restoring its previous ruleset.
	Rollback time.Duration
	// Label names the change in the host's record of a rollback.
	Label string
}

// NotrackResult is what a NOTRACK rule apply did.
type NotrackResult struct {
	// RulesFile is the rules file the rules persist in.
	RulesFile string
	// Refused maps each chain whose change iptables refused to its message.
	Refused map[string]string
	// Guard is how the guarded live change ended (Armed false: nothing
	// changed live).
	Guard GuardReport
}

// Notrack makes the host hold Plan's rules instead of Prior's (base is
// this walk's read, if any). A change of the running rules is guarded
// (see guarded): the host saves the tables the change touches and the
// rules file, arms its timer, applies the rules; only when every rule
// applied is the rules file written, and only a new login after that
// confirms. Anything less is rolled back, tables and file, by the host.
// A change of the file alone is written as is.
func Notrack(ctx context.Context, h Host, ch NotrackChange, base *conntrack.Firewall) (NotrackResult, error) {
	unlock, err := h.Lock(mayGuard(ctx))
	if err != nil {
		return NotrackResult{}, err
	}
	defer unlock()
	fw := base
	if fw == nil {
		if fw, err = ReadFirewall(ctx, h, ch.RulesFile, ch.IPVersion); err != nil {
			return NotrackResult{}, err
		}
	}
	write := func() error {
		_, err := edit(fw, func() (*conntrack.Firewall, error) { return ReadFirewall(ctx, h, ch.RulesFile, ch.IPVersion) },
			func(fw *conntrack.Firewall) error {
				content, err := conntrack.EditRules(fw.Rules.Content, ch.Plan, ch.Prior)
				if err != nil {
					return &StepError{Op: "edit the rules of " + fw.Rules.Path, Err: err}
				}
				if string(content) == string(fw.Rules.Content) {
					return nil
				}
				return writeOver(ctx, h, fw.Rules, content, 0o600)
			})
		return err
	}
	res := NotrackResult{RulesFile: fw.Rules.Path}
	changes := conntrack.LiveChanges(*fw, ch.Plan, ch.Prior)
	if len(changes) == 0 {
		if err := unguarded(ctx, h); err != nil {
			return res, err
		}
		return res, write()
	}
	seconds := int(ch.Rollback / time.Second)
	if seconds == 0 {
		seconds = 30
	}
	body, args, tables := conntrack.NotrackScript(conntrack.IptablesCommand(ch.IPVersion), changes)
	g := conntrack.Guard{Seconds: seconds, Kind: conntrack.GuardFirewall(ch.IPVersion), Label: ch.Label, Tables: tables, Files: []string{fw.Rules.Path}}
	gr, rep, err := guarded(ctx, h, g, write, OpApplyNotrack, body, args)
	res.Refused, res.Guard = gr.Failed, rep
	return res, err
}
