package converge

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
)

// fakeClock is a Clock that moves only when a test advances it (as
// terraform-provider-time's tests fake its clock). The batch tests run in
// a synctest bubble only to learn when every goroutine of the batch is
// blocked (synctest.Wait): what time it is comes from this clock.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*fakeTimer]struct{}
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC), timers: map[*fakeTimer]struct{}{}}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) (<-chan time.Time, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tm := &fakeTimer{at: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		tm.ch <- c.now
		return tm.ch, func() {}
	}
	c.timers[tm] = struct{}{}
	return tm.ch, func() {
		c.mu.Lock()
		delete(c.timers, tm)
		c.mu.Unlock()
	}
}

// advance moves the clock by d and fires every timer due.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for tm := range c.timers {
		if !tm.at.After(c.now) {
			tm.ch <- c.now
			delete(c.timers, tm)
		}
	}
}

// batchRig is one stub host with a fake clock and its change lock, on
// which a test plays changes as guarded and Notrack run them: take the
// lock (marked mayGuard), join the open batch when complete, give up the
// lock when settled.
type batchRig struct {
	t     *testing.T
	ctx   context.Context
	clk   *fakeClock
	h     *stubHost
	g     *hostGate
	t0    time.Time
	dirs  int
	mu    sync.Mutex
	final map[string]conntrack.Settled // each guard's settlement, by dir
}

// newBatchRig must run inside synctest.Test: the gate's channels belong to
// the bubble.
func newBatchRig(t *testing.T) *batchRig {
	r := &batchRig{t: t, ctx: t.Context(), clk: newFakeClock(), h: newStub(), final: map[string]conntrack.Settled{}}
	r.h.clock, r.h.gated = r.clk, true
	r.t0 = r.clk.Now()
	// The host confirms every guard asked, in the batch's answer format.
	r.h.answers[opSettle] = func(args []string) (string, error) {
		var b strings.Builder
		for i := 0; i+1 < len(args); i += 2 {
			fmt.Fprintf(&b, "@@settle\t%s\n", args[i])
			if args[i+1] == "confirm" {
				b.WriteString("confirmed\n")
			} else {
				b.WriteString("rolled-back\nrestored\n")
			}
		}
		return b.String(), nil
	}
	r.g = gateOf(r.h)
	t.Cleanup(r.g.release)
	unblockOnCleanup(t, r.clk, r.h)
	return r
}

// unblockOnCleanup lets the goroutines of a failed test end (else the
// bubble panics and hides every other test's result): it closes h's open
// batch, and fires every timer; the test's context, cancelled before
// cleanups run, ends any other wait.
func unblockOnCleanup(t *testing.T, clk *fakeClock, h *stubHost) {
	t.Cleanup(func() {
		g := gateOf(h)
		defer g.release()
		for range 10 {
			g.mu.Lock()
			if g.open != nil && !g.open.now {
				g.open.now = true
				g.bump()
			}
			g.mu.Unlock()
			clk.advance(time.Hour)
			synctest.Wait()
		}
	})
}

// holder is a change that asked for the host's change lock.
type holder struct {
	got    chan struct{}
	unlock func()
}

// hold starts a change that may run guarded: it asks for the lock (and
// waits in the queue while another change holds it).
func (r *batchRig) hold() *holder {
	hd := &holder{got: make(chan struct{})}
	go func() {
		unlock, err := r.g.lock(mayGuard(r.ctx), nil)
		if err != nil {
			if r.ctx.Err() == nil {
				r.t.Errorf("lock: %v", err)
			}
			return
		}
		hd.unlock = unlock
		close(hd.got)
	}()
	synctest.Wait()
	return hd
}

func (hd *holder) has() bool {
	select {
	case <-hd.got:
		return true
	default:
		return false
	}
}

// join completes hd's change as guarded does: a member with this rollback
// window (its deadline counted from now) joins the open batch, gives up
// the lock, and waits for its settlement.
func (r *batchRig) join(hd *holder, window time.Duration) {
	r.t.Helper()
	if !hd.has() {
		r.t.Fatal("join: the change does not hold the lock")
	}
	r.dirs++
	m := &batchMember{ctx: r.ctx, dir: fmt.Sprintf("/run/conntrack-tf-guard.%d", r.dirs), window: window, deadline: r.clk.Now().Add(window)}
	b := r.g.join(r.h, m)
	go func() {
		<-b.done
		r.mu.Lock()
		r.final[m.dir] = m.st
		r.mu.Unlock()
		hd.unlock()
	}()
	synctest.Wait()
}

// release ends hd's change without a guarded change to confirm.
func (r *batchRig) release(hd *holder) {
	r.t.Helper()
	if !hd.has() {
		r.t.Fatal("release: the change does not hold the lock")
	}
	hd.unlock()
	synctest.Wait()
}

// advance moves the host's clock and lets every goroutine run until all
// are blocked again.
func (r *batchRig) advance(d time.Duration) {
	r.clk.advance(d)
	synctest.Wait()
}

// logins returns the confirming logins so far: when, after t0, and which
// guards each settled.
func (r *batchRig) logins() []string {
	r.h.mu.Lock()
	defer r.h.mu.Unlock()
	var out []string
	for _, l := range r.h.logins {
		var dirs []string
		for _, a := range l.args {
			for i := 0; i+1 < len(a); i += 2 {
				dirs = append(dirs, strings.TrimPrefix(a[i], "/run/conntrack-tf-guard.")+":"+a[i+1])
			}
		}
		out = append(out, fmt.Sprintf("+%s %s", l.at.Sub(r.t0), strings.Join(dirs, ",")))
	}
	return out
}

// expectLogins fails unless the confirming logins so far are want.
func (r *batchRig) expectLogins(when string, want ...string) {
	r.t.Helper()
	if got := r.logins(); strings.Join(got, "; ") != strings.Join(want, "; ") {
		r.t.Fatalf("%s: confirming logins %q, want %q", when, got, want)
	}
}

// The batch closes batchGrace (100 ms) after the last moment another
// change of the host held, waited for or was announced to take the lock:
// not before, and not later.
func TestBatchClosesWhenTheHostIsQuiet(t *testing.T) {
	t.Parallel()
	t.Run("alone", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			r := newBatchRig(t)
			r.join(r.hold(), 30*time.Second)
			r.advance(99 * time.Millisecond)
			r.expectLogins("99 ms after the only change joined")
			r.advance(time.Millisecond)
			r.expectLogins("100 ms after", "+100ms 1:confirm")
		})
	})
	t.Run("after the holder of the lock", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			r := newBatchRig(t)
			a := r.hold()
			b := r.hold() // waits for the lock
			r.join(a, 30*time.Second)
			if !b.has() {
				t.Fatal("the waiting change did not get the lock when the first joined its batch")
			}
			r.advance(3 * time.Second)
			r.expectLogins("while another change holds the lock")
			r.release(b) // nothing to confirm
			r.advance(99 * time.Millisecond)
			r.expectLogins("99 ms after the holder let go")
			r.advance(time.Millisecond)
			r.expectLogins("100 ms after", "+3.1s 1:confirm")
		})
	})
	t.Run("after an announced change", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			r := newBatchRig(t)
			_, done := Expect(r.ctx, r.h) // a change still reading
			r.join(r.hold(), 30*time.Second)
			r.advance(2 * time.Second)
			r.expectLogins("while a change is announced")
			done() // it had nothing to change
			synctest.Wait()
			r.advance(99 * time.Millisecond)
			r.expectLogins("99 ms after the announcement ended")
			r.advance(time.Millisecond)
			r.expectLogins("100 ms after", "+2.1s 1:confirm")
		})
	})
	t.Run("every member in one login", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			r := newBatchRig(t)
			a := r.hold()
			b := r.hold()
			r.join(a, 30*time.Second)
			r.advance(50 * time.Millisecond)
			r.join(b, 30*time.Second)
			r.advance(99 * time.Millisecond)
			r.expectLogins("99 ms after the last member joined")
			r.advance(time.Millisecond)
			r.expectLogins("100 ms after", "+150ms 1:confirm,2:confirm")
		})
	})
}

// While the host is not quiet, the batch closes batchWindow (10 s) after
// its first member joined, once the change holding the lock is done.
func TestBatchClosesAfterItsWindow(t *testing.T) {
	t.Parallel()
	t.Run("a change announced that never comes", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			r := newBatchRig(t)
			_, done := Expect(r.ctx, r.h)
			defer done()
			r.join(r.hold(), 60*time.Second) // hard close at +30s
			r.advance(10*time.Second - time.Millisecond)
			r.expectLogins("just before the window ends")
			r.advance(time.Millisecond)
			r.expectLogins("when the window ends", "+10s 1:confirm")
		})
	})
	t.Run("a holder that finishes after it", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			r := newBatchRig(t)
			a := r.hold()
			b := r.hold()
			r.join(a, 60*time.Second)
			r.advance(11 * time.Second)
			r.expectLogins("after the window, the holder not done")
			// A change that asks for the lock after the window waits
			// for this batch's login and goes to the next batch.
			c := r.hold()
			r.advance(time.Second)
			r.join(b, 60*time.Second)
			r.expectLogins("the holder joined after the window", "+12s 1:confirm,2:confirm")
			if !c.has() {
				t.Fatal("the change that came after the window did not get the lock once the batch was settled")
			}
			r.join(c, 60*time.Second)
			r.advance(100 * time.Millisecond)
			r.expectLogins("the next batch", "+12s 1:confirm,2:confirm", "+12.1s 3:confirm")
		})
	})
}

// The window ends batchMargin (2 s) before the batch's hard close when
// that comes first.
func TestBatchWindowEndsBeforeTheHardClose(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		r := newBatchRig(t)
		_, done := Expect(r.ctx, r.h)
		defer done()
		r.join(r.hold(), 20*time.Second) // hard close at +10s: the window ends at +8s
		r.advance(8*time.Second - time.Millisecond)
		r.expectLogins("just before the margin")
		r.advance(time.Millisecond)
		r.expectLogins("batchMargin before the hard close", "+8s 1:confirm")
	})
}

// At the latest, the batch closes half a rollback window before the
// earliest deadline of its members, even while a change holds the lock:
// no member waits past its guard's deadline.
func TestBatchHardCloseBeforeTheEarliestDeadline(t *testing.T) {
	t.Parallel()
	t.Run("one member", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			r := newBatchRig(t)
			a := r.hold()
			b := r.hold()
			r.join(a, 30*time.Second) // deadline +30s, hard close +15s
			r.advance(15*time.Second - time.Millisecond)
			r.expectLogins("just before the hard close, the holder not done")
			r.advance(time.Millisecond)
			r.expectLogins("at the hard close", "+15s 1:confirm")
			r.release(b)
		})
	})
	t.Run("a later member with an earlier deadline", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			r := newBatchRig(t)
			a := r.hold()
			b := r.hold()
			r.join(a, 60*time.Second) // hard close +30s
			r.advance(2 * time.Second)
			c := r.hold()
			r.join(b, 24*time.Second) // deadline +26s, hard close +14s
			if !c.has() {
				t.Fatal("the third change did not get the lock")
			}
			r.advance(12*time.Second - time.Millisecond)
			r.expectLogins("just before the earliest member's hard close")
			r.advance(time.Millisecond)
			r.expectLogins("at the earliest member's hard close", "+14s 1:confirm,2:confirm")
			r.release(c)
		})
	})
}

// gatedFirewallStub is a NOTRACK host whose changes take its change lock
// and batch, on a fake clock (inside synctest.Test).
func gatedFirewallStub(t *testing.T) (*stubHost, *fakeClock) {
	clk := newFakeClock()
	raw := ""
	h := firewallStub(&raw)
	h.clock, h.gated = clk, true
	unblockOnCleanup(t, clk, h)
	return h, clk
}

// When the login that would confirm a batch fails, every member rolls
// back, also one that did not cut SSH itself: no login can tell which one
// did (DECISIONS.md). Two NOTRACK changes of one host, announced and run
// as the provider runs them, on a host whose guards restore by themselves
// at their deadline unless confirmed.
func TestBatchFailedLoginRollsBackEveryMember(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h, clk := gatedFirewallStub(t)
		t0 := clk.Now()
		h.dialFails = 1 // the batch's login
		var (
			mu       sync.Mutex
			armed    int
			deadline = map[string]time.Time{}
			state    = map[string]string{} // dir: "confirmed" or "rolled-back"
		)
		h.answers[OpArmGuard] = func(args []string) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			armed++
			dir := fmt.Sprintf("/run/conntrack-tf-guard.%d.firewall4", armed)
			deadline[dir] = clk.Now().Add(30 * time.Second)
			return "@@armed\t" + dir + "\tsetsid\n", nil
		}
		h.answers[OpApplyNotrack] = func([]string) (string, error) { return "@@done\n", nil }
		h.answers[opSettle] = func(args []string) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			var b strings.Builder
			for i := 0; i+1 < len(args); i += 2 {
				dir, mode := args[i], args[i+1]
				switch {
				case state[dir] != "":
				case !clk.Now().Before(deadline[dir]) || mode == "rollback":
					state[dir] = "rolled-back"
				default:
					state[dir] = "confirmed"
				}
				fmt.Fprintf(&b, "@@settle\t%s\n%s\n", dir, state[dir])
				if state[dir] == "rolled-back" {
					b.WriteString("restored\n")
				}
			}
			return b.String(), nil
		}
		rules := []conntrack.NotrackRule{rule, rule}
		rules[1].Port = "123"
		results := make([]NotrackResult, len(rules))
		errs := make([]error, len(rules))
		for i := range rules {
			ctx, done := Expect(t.Context(), h)
			go func() {
				defer done()
				results[i], errs[i] = Notrack(ctx, h, NotrackChange{Plan: &conntrack.OwnedRules{Rule: rules[i]}, RulesFile: "/etc/rules", IPVersion: 4}, nil)
			}()
		}
		synctest.Wait()
		clk.advance(100 * time.Millisecond)
		synctest.Wait()
		h.mu.Lock()
		if len(h.logins) != 1 || h.logins[0].err == nil || !h.logins[0].at.Equal(t0.Add(100*time.Millisecond)) {
			var got []string
			for _, l := range h.logins {
				got = append(got, fmt.Sprintf("+%s err %v ran %v %v", l.at.Sub(t0), l.err, l.ops, l.args))
			}
			h.mu.Unlock()
			t.Fatalf("logins %q, want the batch's one failed login at +100ms", got)
		}
		if n := strings.Count(strings.Join(h.ops, ","), OpApplyNotrack); n != 2 {
			t.Fatalf("%d applies before the batch's login, want both changes in the batch", n)
		}
		h.mu.Unlock()
		// The host's timers restore at +30s; the provider asks 2 s later.
		clk.advance(32 * time.Second)
		synctest.Wait()
		for i, res := range results {
			g := res.Guard
			if errs[i] != nil || g.Confirmed || !g.RolledBack || g.Outcome != "restored" || g.Cause != CauseNoLogin || g.Pending {
				t.Errorf("change %d: err %v, guard %+v: want rolled back for want of a login", i, errs[i], g)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		for dir, s := range state {
			if s != "rolled-back" {
				t.Errorf("the host's guard %s is %s, want rolled back", dir, s)
			}
		}
		if len(state) != 2 {
			t.Errorf("the host settled %d guards, want 2: %v", len(state), state)
		}
	})
}

// An nft NOTRACK change batches like the iptables one (issue #25): a
// NOTRACK rule and an nft table applied together on one host, announced
// and run as the provider runs them, are confirmed by one login.
func TestBatchNftJoinsTheBatch(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h, clk := gatedFirewallStub(t)
		t0 := clk.Now()
		var mu sync.Mutex
		armed := 0
		h.answers[OpArmGuard] = func(args []string) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			armed++
			return fmt.Sprintf("@@armed\t/run/conntrack-tf-guard.%d.%s\tsetsid\n", armed, args[1]), nil
		}
		h.answers[OpApplyNotrack] = func([]string) (string, error) { return "@@done\n", nil }
		h.answers[OpApplyNft] = func([]string) (string, error) { return "@@done\n", nil }
		h.answers["make the directory of "+nftRules] = func([]string) (string, error) { return "", nil }
		h.answers[opSettle] = func(args []string) (string, error) {
			var b strings.Builder
			for i := 0; i+1 < len(args); i += 2 {
				fmt.Fprintf(&b, "@@settle\t%s\nconfirmed\n", args[i])
			}
			return b.String(), nil
		}
		var notrack NotrackResult
		var nft NftResult
		errs := make([]error, 2)
		ctx, done := Expect(t.Context(), h)
		ctx2, done2 := Expect(t.Context(), h)
		go func() {
			defer done()
			notrack, errs[0] = Notrack(ctx, h, NotrackChange{Plan: &conntrack.OwnedRules{Rule: rule}, RulesFile: "/etc/rules", IPVersion: 4}, nil)
		}()
		synctest.Wait() // the NOTRACK change is in the batch, which waits for the announced nft change
		go func() {
			defer done2()
			nft, errs[1] = Nft(ctx2, h, NftChange{Plan: &ruleA, Name: "a", Rollback: 30 * time.Second}, nftBase(t, false, nil, nil))
		}()
		synctest.Wait()
		clk.advance(100 * time.Millisecond)
		synctest.Wait()
		if errs[0] != nil || errs[1] != nil || !notrack.Guard.Confirmed || !nft.Guard.Confirmed {
			t.Fatalf("notrack %+v %v, nft %+v %v: want both confirmed", notrack.Guard, errs[0], nft.Guard, errs[1])
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if len(h.logins) != 1 || len(h.logins[0].args) != 1 || len(h.logins[0].args[0]) != 4 || !h.logins[0].at.Equal(t0.Add(100*time.Millisecond)) {
			var got []string
			for _, l := range h.logins {
				got = append(got, fmt.Sprintf("+%s %v", l.at.Sub(t0), l.args))
			}
			t.Fatalf("confirming logins %q, want one at +100ms settling both guards", got)
		}
	})
}
