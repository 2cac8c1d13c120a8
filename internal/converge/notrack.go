package converge

import (
	"context"
	"strings"
	"time"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/sshx"
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
}

// Confirmation is what a new login found after a live change.
type Confirmation string

// The confirmations.
const (
	// NotApplied: nothing changed live (no change was needed, or the apply
	// failed before arming the rollback).
	NotApplied Confirmation = ""
	Confirmed  Confirmation = "confirmed"
	// Fired: the confirmation came too late; the host rolled back.
	Fired Confirmation = "fired"
	// Unreachable: no new login succeeded; the host is rolling back.
	Unreachable Confirmation = "unreachable"
)

// NotrackResult is what a NOTRACK rule apply did.
type NotrackResult struct {
	// RulesFile is the rules file the rules persist in.
	RulesFile string
	// Refused maps each chain whose change iptables refused to its message.
	Refused map[string]string
	// Confirm is what a new login found after the live change.
	Confirm Confirmation
	// Snapshot is the host's saved copy of the previous ruleset.
	Snapshot string
	// Restore is, after Unreachable, how putting the rules file back went.
	Restore *Restore
}

// Restore is the outcome of putting the rules file back after a rollback.
type Restore struct {
	// Unreachable: no login succeeded even after the rollback; Err says why.
	Unreachable bool
	// Err is why the host could not be reached or the file not restored;
	// nil when the file is back as it was.
	Err error
}

// Notrack makes the host hold Plan's rules instead of Prior's: the rules
// file first (base is this walk's read, if any), then the live rules
// under the lock-out protection: the host saves its ruleset and restores it
// after Rollback unless a new login confirms, in time, that it is still
// reachable. After a cut-off it waits for the host's rollback and puts the
// rules file back as it was, so the next boot does not cut SSH either.
func Notrack(ctx context.Context, h Host, ch NotrackChange, base *conntrack.Firewall) (NotrackResult, error) {
	unlock, err := h.Lock(ctx)
	if err != nil {
		return NotrackResult{}, err
	}
	defer unlock()
	var content []byte
	fw, err := edit(base, func() (*conntrack.Firewall, error) { return ReadFirewall(ctx, h, ch.RulesFile, ch.IPVersion) },
		func(fw *conntrack.Firewall) error {
			var err error
			if content, err = conntrack.EditRules(fw.Rules.Content, ch.Plan, ch.Prior); err != nil {
				return &StepError{Op: "edit the rules of " + fw.Rules.Path, Err: err}
			}
			if string(content) == string(fw.Rules.Content) {
				return nil
			}
			return writeOver(ctx, h, fw.Rules, content, 0o600)
		})
	if err != nil {
		return NotrackResult{}, err
	}
	res := NotrackResult{RulesFile: fw.Rules.Path}
	changes := conntrack.LiveChanges(*fw, ch.Plan, ch.Prior)
	if len(changes) == 0 {
		return res, nil
	}
	seconds := int(ch.Rollback / time.Second)
	if seconds == 0 {
		seconds = 30
	}
	armed := time.Now()
	script, args := conntrack.RollbackScript(conntrack.IptablesCommand(ch.IPVersion), seconds, changes)
	// The change may cut this very connection: do not wait for it longer
	// than half the rollback window.
	half := time.Duration(seconds) * time.Second / 2
	applyCtx, cancel := context.WithTimeout(ctx, half)
	out, err := h.Script(applyCtx, OpApplyNotrack, script, nil, args...)
	cancel()
	rb := conntrack.ParseRollback(string(out))
	if err != nil && rb.Snapshot == "" {
		return res, &StepError{Op: OpApplyNotrack, Err: err}
	}
	res.Refused, res.Snapshot = rb.Failed, rb.Snapshot
	// Prove that a new login still works, over a new connection.
	confirmCtx, cancel := context.WithTimeout(ctx, half)
	defer cancel()
	res.Confirm = Unreachable
	if fresh, closeFresh, err := h.DialFresh(confirmCtx); err == nil {
		out, err := fresh.Script(confirmCtx, "confirm firewall change", conntrack.ConfirmScript, nil, rb.Snapshot)
		closeFresh()
		if err == nil {
			switch strings.TrimSpace(string(out)) {
			case string(Confirmed):
				res.Confirm = Confirmed
			case string(Fired):
				res.Confirm = Fired
			}
		}
	}
	if res.Confirm == Unreachable {
		res.Restore = restoreAfterRollback(ctx, h, fw.Rules, content, armed.Add(time.Duration(seconds)*time.Second+2*time.Second))
	}
	return res, nil
}

// restoreAfterRollback waits until the host has restored its ruleset,
// then puts the rules file back as it was before written.
func restoreAfterRollback(ctx context.Context, h Host, old conntrack.File, written []byte, after time.Time) *Restore {
	select {
	case <-time.After(time.Until(after)):
	case <-ctx.Done():
		return nil
	}
	fresh, closeFresh, err := h.DialFresh(ctx)
	if err != nil {
		return &Restore{Unreachable: true, Err: err}
	}
	defer closeFresh()
	err = fresh.WriteFile(ctx, old.Path, old.Content, sshx.WriteOptions{IfUnchanged: &written})
	if !old.Exists && err == nil {
		_, err = fresh.Script(ctx, "remove "+old.Path, conntrack.RemoveFileScript, nil, old.Path)
	}
	return &Restore{Err: err}
}
