package converge

import (
	"context"
	"errors"
	"time"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
)

// Why a guarded change was not confirmed.
const (
	// CauseRefused: the host refused part of the change (an iptables
	// rule, a service start).
	CauseRefused = "refused"
	// CauseIncomplete: the apply did not finish (cut, timed out).
	CauseIncomplete = "incomplete"
	// CauseInterrupted: the apply was cancelled (Ctrl-C, SIGTERM).
	CauseInterrupted = "interrupted"
	// CauseWrite: the live change applied but a file write failed.
	CauseWrite = "write"
	// CauseLate: the host rolled back before the confirmation arrived.
	CauseLate = "late"
	// CauseNoLogin: no new login succeeded after the change.
	CauseNoLogin = "no-login"
)

// GuardReport is how a guarded change ended.
type GuardReport struct {
	// Armed: the host saved its state and armed its timer; false when
	// nothing was changed live.
	Armed     bool
	Confirmed bool
	// Cause is why the change was not confirmed; Err the error behind it.
	Cause string
	Err   error
	// RolledBack: the host restored what it saved; Outcome is its record
	// ("restored" or "restore-failed: WHY").
	RolledBack bool
	Outcome    string
	// Pending: the outcome is not known (no login succeeded, or the apply
	// was cancelled before it could be learnt): the host's timer restores
	// by itself at Deadline and the next read reports how that went.
	Pending  bool
	Deadline time.Time
	// Dir is the host's guard directory; Timer "systemd" or "setsid".
	Dir, Timer string
}

// OpArmGuard is the remote step that arms a guard.
const OpArmGuard = "arm the rollback"

// opSettle is the remote step that confirms or rolls back guards.
const opSettle = "settle a guarded change"

// guarded makes a guarded change: it arms g on the host, runs write (the
// file writes; nil for none) while the session cannot have been cut by the
// change yet, then applies body (op, with bodyArgs) live, and then proves
// with a new login that the host is still reachable. It runs under
// h.Lock: a complete change then gives up the lock and is confirmed, with
// the other guarded changes of its host that complete close to it, by one
// new login (a batch, see batch.go); an incomplete one is rolled back at
// once over a new login. After no login succeeds it waits for the host's
// own rollback and reports its outcome. Failures of the change are in the
// report, not the error, which is for a guard that could not be armed
// (nothing changed).
func guarded(ctx context.Context, h Host, g conntrack.Guard, write func() error, op, body string, bodyArgs []string) (conntrack.GuardResult, GuardReport, error) {
	clock := clockOf(h)
	start := clock.Now()
	window := time.Duration(g.Seconds) * time.Second
	rep := GuardReport{Deadline: start.Add(window)}
	script, args := conntrack.ArmScript(g)
	out, err := h.Script(ctx, OpArmGuard, script, nil, args...)
	armed := conntrack.ParseGuarded(string(out))
	if armed.Dir == "" {
		if armed.GuardFail != "" {
			err = errors.New(armed.GuardFail)
		} else if err == nil {
			err = errors.New("the host did not report arming the rollback")
		}
		return armed, rep, &StepError{Op: OpArmGuard, Err: err}
	}
	rep.Armed, rep.Dir, rep.Timer = true, armed.Dir, armed.Timer
	var res conntrack.GuardResult
	if write != nil {
		if err := write(); err != nil {
			rep.Cause, rep.Err = CauseWrite, err
		}
	}
	if rep.Cause == "" && ctx.Err() == nil {
		// The change may cut this very connection: do not wait for it
		// longer than half the rollback window.
		applyCtx, cancel := context.WithTimeout(ctx, window/2)
		out, err = h.Script(applyCtx, op, body, nil, bodyArgs...)
		cancel()
		res = conntrack.ParseGuarded(string(out))
		switch {
		case err != nil:
			rep.Cause, rep.Err = CauseIncomplete, err
		case len(res.Failed) > 0:
			rep.Cause = CauseRefused
		case !res.Done:
			rep.Cause, rep.Err = CauseIncomplete, errors.New("the apply stopped before it finished")
		}
	}
	if ctx.Err() != nil {
		rep.Cause, rep.Err = CauseInterrupted, ctx.Err()
	}
	gate := gateOf(h)
	defer gate.release()
	var (
		st       conntrack.Settled
		ok       bool
		loggedIn time.Time
	)
	if rep.Cause == "" {
		st, ok, loggedIn, rep.Cause = confirmInBatch(ctx, h, gate, &batchMember{ctx: ctx, dir: armed.Dir, window: window, deadline: rep.Deadline})
	}
	if rep.Cause != "" && !ok {
		// Roll back now over a new login. A cancelled apply still gets a
		// short while to roll back rather than leave it to the timer.
		if rep.Cause == CauseInterrupted && rep.Err == nil {
			rep.Err = ctx.Err()
		}
		settleCtx, cancel := context.WithTimeout(ctx, window/2)
		if ctx.Err() != nil {
			settleCtx, cancel = context.WithTimeout(context.WithoutCancel(ctx), min(window/2, 10*time.Second))
		}
		st, ok, loggedIn = settle(settleCtx, h, armed.Dir, false)
		cancel()
	}
	if !ok || !st.Confirmed {
		gate.markStale()
	}
	switch {
	case ok && st.Confirmed:
		rep.Confirmed = true
		return res, rep, nil
	case ok && st.RolledBack:
		switch {
		case rep.Cause != "":
		case loggedIn.After(rep.Deadline):
			// The login itself only got through after the rollback.
			rep.Cause = CauseNoLogin
		default:
			rep.Cause = CauseLate
		}
		rep.RolledBack, rep.Outcome = true, st.Outcome
		return res, rep, nil
	}
	if rep.Cause == "" {
		rep.Cause = CauseNoLogin
	}
	rep.Pending = true
	// Wait for the host's own rollback, then learn how it went (unless
	// the apply is cancelled: the next read reports it then).
	if waitUntil(ctx, clock, rep.Deadline.Add(2*time.Second)) {
		if st, ok, _ = settle(ctx, h, armed.Dir, false); ok && st.RolledBack {
			rep.Pending, rep.RolledBack, rep.Outcome = false, true, st.Outcome
		}
	}
	return res, rep, nil
}

// confirmInBatch gives up the host's change lock and waits for m's batch to
// settle it. A change cancelled before its batch's login leaves the batch
// (cause CauseInterrupted, ok false: the caller rolls it back now); a
// change the batch rolled back because an older one left is
// CauseInterrupted too.
func confirmInBatch(ctx context.Context, h Host, gate *hostGate, m *batchMember) (st conntrack.Settled, ok bool, loggedIn time.Time, cause string) {
	b := gate.join(h, m)
	select {
	case <-b.done:
	case <-ctx.Done():
		if gate.leave(b, m) {
			return st, false, loggedIn, CauseInterrupted
		}
		<-b.done
	}
	if m.rollback && m.ok && m.st.RolledBack {
		cause = CauseInterrupted
	}
	return m.st, m.ok, m.loggedIn, cause
}

// waitUntil waits until t on clock and reports whether ctx is still live.
func waitUntil(ctx context.Context, clock Clock, t time.Time) bool {
	fired, stop := clock.NewTimer(t.Sub(clock.Now()))
	defer stop()
	select {
	case <-fired:
		return ctx.Err() == nil
	case <-ctx.Done():
		return false
	}
}

// settle runs SettleScript over a new login; ok is false when no login
// succeeded or the host did not know the guard; loggedIn is when the
// login succeeded.
func settle(ctx context.Context, h Host, dir string, confirm bool) (st conntrack.Settled, ok bool, loggedIn time.Time) {
	fresh, closeFresh, err := h.DialFresh(ctx)
	if err != nil {
		return st, false, loggedIn
	}
	loggedIn = clockOf(h).Now()
	defer closeFresh()
	script, args := conntrack.SettleScript(dir, confirm)
	out, err := fresh.Script(ctx, opSettle, script, nil, args...)
	if err != nil {
		return st, false, loggedIn
	}
	st = conntrack.ParseSettleBatch(string(out), []string{dir})[dir]
	return st, st.Confirmed || st.RolledBack, loggedIn
}
