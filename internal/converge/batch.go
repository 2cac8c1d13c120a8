package converge

import (
	"context"
	"sync"
	"time"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
)

// One confirming login per host (issue #15): the guarded changes of a host
// that complete close together are confirmed by one new login (group
// commit). A change holds the host's change lock (hostGate) while it arms,
// writes and applies; then it yields the lock and joins the host's open
// batch, so the next change can run while it waits. The batch closes, and
// one new login settles all its guards in arming order (see
// conntrack.SettleBatchScript), as soon as no other change of the host
// holds, waits for or is announced to take the lock (Expect; after
// batchGrace); or, once the change holding the lock is done, batchWindow
// after its first member joined or batchMargin before its hard close,
// whichever comes first; and at the latest at its hard close, half a
// rollback window before the earliest deadline of its members: no change
// waits past its guard's deadline. A change that takes the lock after the
// window passed, or while a batch is being confirmed, waits for that
// confirmation and goes to the next batch. (A 2 s window split the three
// changes of one host in two batches on a machine at load 35.)
//
// Nothing unguarded may change the host while a batch waits (a rollback of
// the batch would undo it): a change that will not run guarded takes the
// lock as a barrier (SSH.Lock without mayGuard), which closes the open
// batch at once and waits for its confirmation.
const (
	batchGrace  = 100 * time.Millisecond
	batchWindow = 10 * time.Second
	batchMargin = 2 * time.Second
)

// hostGate is one host's change lock in this process, the remote host lock
// (sshx.LockHost) it holds while any change of the host is in flight or a
// batch waits, and the host's open batch.
type hostGate struct {
	key   any
	refs  int   // guarded by gates.mu
	clock Clock // the host's (clockOf)

	mu sync.Mutex
	// changed is closed and replaced whenever the fields below change.
	changed chan struct{}
	held    bool   // a change holds the lock
	ticket  uint64 // the holder's ticket (0: none)
	tickets uint64
	queue   int          // changes waiting for the lock
	coming  int          // changes announced (Expect) that have not asked for the lock yet
	flock   func() error // the remote host lock, nil when not held
	take    func(context.Context) (func() error, error)
	// stale: a guard of this process may still be pending on the host (not
	// confirmed): the next holder takes the remote lock anew, which waits
	// for pending guards.
	stale      bool
	open       *confirmBatch
	confirming int // batches whose login runs
}

// confirmBatch is the guards that one login settles.
type confirmBatch struct {
	members    []*batchMember
	soft, hard time.Time
	// past: the window is over; no change may take the lock until the
	// batch is settled.
	past bool
	// now: a barrier waits; close at once.
	now  bool
	done chan struct{}
}

// batchMember is one guard of a batch and, once done, how it was settled.
type batchMember struct {
	ctx      context.Context
	dir      string
	window   time.Duration
	deadline time.Time
	// rollback: roll back instead of confirming (a change armed before it
	// left the batch).
	rollback bool

	st       conntrack.Settled
	ok       bool
	loggedIn time.Time
}

var gates = struct {
	mu sync.Mutex
	m  map[any]*hostGate
}{m: map[any]*hostGate{}}

// gateKey is what names a host's gate: the shared connection for SSH, the
// host itself otherwise (test stubs).
func gateKey(h Host) any {
	if s, ok := h.(*SSH); ok {
		return s.Client
	}
	return h
}

// gateOf returns h's gate, referenced until release.
func gateOf(h Host) *hostGate {
	key := gateKey(h)
	gates.mu.Lock()
	defer gates.mu.Unlock()
	g := gates.m[key]
	if g == nil {
		g = &hostGate{key: key, clock: clockOf(h), changed: make(chan struct{})}
		gates.m[key] = g
	}
	g.refs++
	return g
}

// release drops a reference; an unreferenced gate is idle and forgotten.
func (g *hostGate) release() {
	gates.mu.Lock()
	defer gates.mu.Unlock()
	if g.refs--; g.refs == 0 {
		delete(gates.m, g.key)
	}
}

// bump wakes every waiter (g.mu held).
func (g *hostGate) bump() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// wait releases g.mu until the gate changes or ctx ends, then takes it
// again.
func (g *hostGate) wait(ctx context.Context) error {
	ch := g.changed
	g.mu.Unlock()
	defer g.mu.Lock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// idleFlock returns the remote lock to release when nothing of the host is
// in flight (g.mu held).
func (g *hostGate) idleFlock() func() error {
	if g.held || g.queue > 0 || g.coming > 0 || g.open != nil || g.confirming > 0 || g.flock == nil {
		return nil
	}
	f := g.flock
	g.flock = nil
	return f
}

// expectation is a change announced by Expect.
type expectation struct {
	g       *hostGate
	arrived bool // guarded by g.mu
}

type expectKey struct{}

// Expect announces a change of h that may run guarded, from the start of
// its resource's apply (before its reads): an open batch of h waits for it
// (within the batch window) instead of closing as soon as no change holds
// or waits for the lock. The change counts as arrived when it asks for the
// lock with the returned context; done ends the announcement in any case.
func Expect(ctx context.Context, h Host) (context.Context, func()) {
	g := gateOf(h)
	e := &expectation{g: g}
	g.mu.Lock()
	g.coming++
	g.bump()
	g.mu.Unlock()
	return context.WithValue(ctx, expectKey{}, e), func() {
		g.mu.Lock()
		e.arrive()
		g.mu.Unlock()
		g.release()
	}
}

// arrive ends e's announcement once (g.mu held).
func (e *expectation) arrive() {
	if !e.arrived {
		e.arrived = true
		e.g.coming--
		e.g.bump()
	}
}

// mayGuardKey marks a context whose change may run guarded (mayGuard).
type mayGuardKey struct{}

// mayGuard marks ctx for Host.Lock: the change may run guarded, and calls
// barrier before anything unguarded.
func mayGuard(ctx context.Context) context.Context {
	return context.WithValue(ctx, mayGuardKey{}, true)
}

// unguarded is called under a lock taken with mayGuard before a change
// that is not guarded: it waits until the host's guarded changes of this
// walk are settled (hostGate.barrier).
func unguarded(ctx context.Context, h Host) error {
	g := gateOf(h)
	defer g.release()
	return g.barrier(ctx)
}

// lock takes the host's change lock, and the remote host lock with take
// unless the gate holds it already. A change not marked mayGuard is a
// barrier: it also waits until the open batch is settled.
func (g *hostGate) lock(ctx context.Context, take func(context.Context) (func() error, error)) (func(), error) {
	g.mu.Lock()
	g.queue++
	if e, ok := ctx.Value(expectKey{}).(*expectation); ok && e.g == g {
		e.arrive()
	}
	g.bump()
	for g.held || g.confirming > 0 || (g.open != nil && g.open.past) {
		if err := g.wait(ctx); err != nil {
			g.queue--
			g.bump()
			f := g.idleFlock()
			g.mu.Unlock()
			if f != nil {
				_ = f()
			}
			return nil, err
		}
	}
	g.queue--
	g.held = true
	g.tickets++
	t := g.tickets
	g.ticket = t
	g.take = take
	g.bump()
	g.mu.Unlock()
	unlock := func() { g.unlock(t) }
	if ctx.Value(mayGuardKey{}) == nil {
		if err := g.barrier(ctx); err != nil {
			unlock()
			return nil, err
		}
		return unlock, nil
	}
	if err := g.ensureFlock(ctx); err != nil {
		unlock()
		return nil, err
	}
	return unlock, nil
}

// ensureFlock makes the holder hold the remote host lock: taken anew (and
// so waiting for the host's pending guards) when the gate does not hold it
// or a guard of this process may still be pending.
func (g *hostGate) ensureFlock(ctx context.Context) error {
	g.mu.Lock()
	old, take := g.flock, g.take
	if g.stale || old == nil {
		g.flock, g.stale = nil, false
	} else {
		old = nil
	}
	g.mu.Unlock()
	if old != nil {
		_ = old()
	}
	g.mu.Lock()
	have := g.flock != nil
	g.mu.Unlock()
	if have || take == nil {
		return nil
	}
	f, err := take(ctx)
	if err != nil {
		return err
	}
	g.mu.Lock()
	g.flock = f
	g.mu.Unlock()
	return nil
}

// barrier (the lock held) closes the open batch at once and waits until
// every batch of the host is settled, then makes sure of the remote lock:
// what the holder changes next is not guarded, and a pending guard's
// restore would undo it.
func (g *hostGate) barrier(ctx context.Context) error {
	g.mu.Lock()
	for g.open != nil || g.confirming > 0 {
		if g.open != nil && !g.open.now {
			g.open.now = true
			g.bump()
		}
		if err := g.wait(ctx); err != nil {
			g.mu.Unlock()
			return err
		}
	}
	g.mu.Unlock()
	return g.ensureFlock(ctx)
}

// unlock releases the change lock of ticket t (nothing when the holder
// yielded it), and the remote lock when nothing is in flight.
func (g *hostGate) unlock(t uint64) {
	g.mu.Lock()
	if g.ticket == t {
		g.held, g.ticket = false, 0
	}
	f := g.idleFlock()
	g.bump()
	g.mu.Unlock()
	if f != nil {
		_ = f()
	}
}

// markStale records that a guard of this process may be pending.
func (g *hostGate) markStale() {
	g.mu.Lock()
	g.stale = true
	g.mu.Unlock()
}

// join adds a complete guarded change to the open batch (a new one if
// none is open; it starts the batch's closer) and gives up the change lock
// its caller holds (guarded runs under Host.Lock): the next change can run
// while this one waits for its confirmation.
func (g *hostGate) join(h Host, m *batchMember) *confirmBatch {
	now := g.clock.Now()
	hard := m.deadline.Add(-m.window / 2)
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.open
	if b == nil {
		b = &confirmBatch{soft: now.Add(batchWindow), hard: hard, done: make(chan struct{})}
		g.open = b
		g.refs2()
		go g.close(h, b)
	}
	b.members = append(b.members, m)
	if hard.Before(b.hard) {
		b.hard = hard
	}
	if s := b.hard.Add(-batchMargin); s.Before(b.soft) {
		b.soft = s
	}
	// Joined and then given up the lock, in one step: a closer woken by
	// the lock's release sees this member in the batch.
	g.held, g.ticket = false, 0
	g.bump()
	return b
}

// refs2 references the gate for a batch's closer (g.mu held; gates.mu is
// taken after it only here and in release, never the other way).
func (g *hostGate) refs2() {
	gates.mu.Lock()
	g.refs++
	gates.mu.Unlock()
}

// leave takes m out of b before its login starts (the change was
// cancelled): it is rolled back by its own, and every member armed after
// it is rolled back too (its restore restores them first). It reports
// false when the login runs already.
func (g *hostGate) leave(b *confirmBatch, m *batchMember) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open != b {
		return false
	}
	after := false
	kept := b.members[:0]
	for _, o := range b.members {
		if o == m {
			after = true
			continue
		}
		if after {
			o.rollback = true
		}
		kept = append(kept, o)
	}
	b.members = kept
	g.bump()
	return true
}

// close waits until b should close (see the package comment above), then
// settles its guards over one new login.
func (g *hostGate) close(h Host, b *confirmBatch) {
	defer g.release()
	g.mu.Lock()
	var quietSince time.Time
	for {
		now := g.clock.Now()
		if !b.past && !now.Before(b.soft) {
			b.past = true
			g.bump()
		}
		quiet := !g.held && g.queue == 0 && g.coming == 0
		switch {
		case !quiet:
			quietSince = time.Time{}
		case quietSince.IsZero():
			quietSince = now
		}
		if len(b.members) == 0 || b.now || !now.Before(b.hard) || (b.past && !g.held) ||
			(quiet && now.Sub(quietSince) >= batchGrace) {
			break
		}
		next := b.hard
		if !b.past && b.soft.Before(next) {
			next = b.soft
		}
		if quiet && quietSince.Add(batchGrace).Before(next) {
			next = quietSince.Add(batchGrace)
		}
		ch := g.changed
		g.mu.Unlock()
		fired, stop := g.clock.NewTimer(next.Sub(now))
		select {
		case <-ch:
		case <-fired:
		}
		stop()
		g.mu.Lock()
	}
	g.open = nil
	g.confirming++
	members := b.members
	g.bump()
	g.mu.Unlock()

	if len(members) > 0 {
		settleBatch(h, g.clock, members)
	}

	g.mu.Lock()
	g.confirming--
	for _, m := range members {
		if !m.ok || !m.st.Confirmed {
			g.stale = true
		}
	}
	f := g.idleFlock()
	g.bump()
	g.mu.Unlock()
	close(b.done)
	if f != nil {
		_ = f()
	}
}

// settleBatch settles members, oldest first, over one new login, within
// half the shortest rollback window of them.
func settleBatch(h Host, clock Clock, members []*batchMember) {
	window := members[0].window
	dirs := make([]string, len(members))
	confirm := make([]bool, len(members))
	for i, m := range members {
		window = min(window, m.window)
		dirs[i], confirm[i] = m.dir, !m.rollback
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(members[0].ctx), window/2)
	defer cancel()
	fresh, closeFresh, err := h.DialFresh(ctx)
	if err != nil {
		return
	}
	loggedIn := clock.Now()
	defer closeFresh()
	script, args := conntrack.SettleBatchScript(dirs, confirm)
	out, err := fresh.Script(ctx, opSettle, script, nil, args...)
	if err != nil {
		return
	}
	st := conntrack.ParseSettleBatch(string(out), dirs)
	for _, m := range members {
		s := st[m.dir]
		m.st, m.ok, m.loggedIn = s, s.Confirmed || s.RolledBack, loggedIn
	}
}
