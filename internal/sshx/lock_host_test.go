package sshx_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/sshx"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// Two pools are two provider processes (two CI jobs) on one host.
func lockClient(t *testing.T, h *testhost.Host, owner string) *sshx.Client {
	t.Helper()
	o := rootOptions(t, h)
	o.LockOwner = owner
	return mustGet(t, pool(t, o), endpoint(h))
}

func TestLockHostExcludesAnotherProcess(t *testing.T) {
	t.Parallel()
	requireHosts(t)
	ctx := t.Context()
	h := testhost.New(t, testhost.Options{})
	a, b := lockClient(t, h, "job-A"), lockClient(t, h, "job-B")

	releaseA, err := a.LockHost(ctx, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// B cannot have it while A holds it; the error names host, file and holder.
	start := time.Now()
	_, err = b.LockHost(ctx, time.Second)
	took := time.Since(start)
	if !errors.Is(err, sshx.ErrLocked) {
		t.Fatalf("second holder: %v", err)
	}
	msg := err.Error()
	for _, want := range []string{h.Addr, sshx.LockFile, "job-A as root", "since 20"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("error %q does not name %q", msg, want)
		}
	}
	if !regexp.MustCompile(`held by pid [0-9]+ `).MatchString(msg) {
		t.Fatalf("error %q does not name the holder's pid", msg)
	}
	if took < time.Second || took > 4*time.Second {
		t.Fatalf("gave up after %s, want about the 1s wait", took)
	}
	// B waits, and gets it as soon as A lets go.
	got := make(chan error, 1)
	var releaseB func() error
	go func() {
		var err error
		releaseB, err = b.LockHost(ctx, 20*time.Second)
		got <- err
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-got:
		t.Fatalf("B got the lock while A held it: %v", err)
	default:
	}
	releasedAt := time.Now()
	if err := releaseA(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if d := time.Since(releasedAt); d > 2*time.Second {
		t.Fatalf("B got the lock %s after A released it", d)
	}
	if out := hostOut(t, h, "cat "+sshx.LockFile); !strings.Contains(out, "job-B") {
		t.Fatalf("holder record %q", out)
	}
	if err := releaseB(); err != nil {
		t.Fatal(err)
	}
}

// The kernel releases the lock when its holder dies: kill -9 of the remote
// holder, or the holder's connection closing (the provider killed).
func TestLockHostReleasedWhenTheHolderDies(t *testing.T) {
	t.Parallel()
	requireHosts(t)
	ctx := t.Context()
	h := testhost.New(t, testhost.Options{Users: []testhost.User{{Name: "ops", Sudo: true}}})
	// B comes through sudo.
	ob := rootOptions(t, h)
	ob.Sudo, ob.LockOwner = true, "job-B"
	b := mustGet(t, pool(t, ob), sshx.Endpoint{Host: h.Addr, User: "ops"})

	// kill -9 of the process that holds the lock on the host.
	a := lockClient(t, h, "job-A")
	if _, err := a.LockHost(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	pid := regexp.MustCompile(`^pid ([0-9]+) `).FindStringSubmatch(hostOut(t, h, "cat "+sshx.LockFile))
	if pid == nil {
		t.Fatal("no holder pid in the lock file")
	}
	hostOut(t, h, "kill -9 "+pid[1])
	release, err := b.LockHost(ctx, 5*time.Second)
	if err != nil {
		t.Fatalf("after kill -9 of the holder: %v", err)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}

	// The holder's SSH connection closes without a release.
	o := rootOptions(t, h)
	o.LockOwner = "job-C"
	pc, err := sshx.NewPool(o)
	if err != nil {
		t.Fatal(err)
	}
	c := mustGet(t, pc, endpoint(h))
	if _, err := c.LockHost(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := b.LockHost(ctx, 200*time.Millisecond); !errors.Is(err, sshx.ErrLocked) {
		t.Fatalf("C holds the lock, yet: %v", err)
	}
	pc.Close()
	release, err = b.LockHost(ctx, 5*time.Second)
	if err != nil {
		t.Fatalf("after the holder's connection closed: %v", err)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
}

// Cancelling the wait returns at once and leaves no waiter behind on the
// host that would take the lock later.
func TestLockHostHonoursCancellation(t *testing.T) {
	t.Parallel()
	requireHosts(t)
	h := testhost.New(t, testhost.Options{})
	a, b, c := lockClient(t, h, "job-A"), lockClient(t, h, "job-B"), lockClient(t, h, "job-C")
	releaseA, err := a.LockHost(t.Context(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = b.LockHost(ctx, time.Minute)
	if !errors.Is(err, sshx.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled wait: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("cancelled wait returned after %s", d)
	}
	if err := releaseA(); err != nil {
		t.Fatal(err)
	}
	// B's abandoned waiter must not have taken the lock (its holder record
	// would show it).
	time.Sleep(300 * time.Millisecond)
	if out := hostOut(t, h, "cat "+sshx.LockFile); !strings.Contains(out, "job-A") {
		t.Fatalf("an abandoned waiter took the lock: %q", out)
	}
	release, err := c.LockHost(t.Context(), 3*time.Second)
	if err != nil {
		t.Fatalf("after B gave up and A released: %v", err)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
}

// A local user of a managed host can neither hold the host lock (which
// would block every apply), nor read who holds it (the runner's host and
// SSH user), nor pre-create it: a lock that is not ours is refused with an
// error that names its path and owner.
func TestLockHostCannotBeHeldOrForgedByAnotherUser(t *testing.T) {
	t.Parallel()
	requireHosts(t)
	ctx := t.Context()
	h := testhost.New(t, testhost.Options{Users: []testhost.User{{Name: "mallory"}}})
	mallory := mustGet(t, pool(t, rootOptions(t, h)), sshx.Endpoint{Host: h.Addr, User: "mallory"})
	root := lockClient(t, h, "job-A")

	// The lock as a run leaves it behind.
	release, err := root.LockHost(ctx, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	try := `if (exec 9<"$1" && flock -n 9) 2>/dev/null; then echo held; fi
if cat -- "$1" 2>/dev/null | grep -q job-A; then echo read; fi
true`
	out, err := mallory.Run(ctx, sshx.Command{Argv: []string{"sh", "-c", try, "sh", sshx.LockFile}})
	if err != nil {
		t.Fatal(err)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Fatalf("an unprivileged user could do this with the host lock %s: %q", sshx.LockFile, s)
	}
	// While she tries to hold it, a run still gets it at once.
	holding := make(chan error, 1)
	go func() {
		_, err := mallory.Run(ctx, sshx.Command{Argv: []string{"sh", "-c", `exec 9<"$1" && flock -n 9 && sleep 4`, "sh", sshx.LockFile}})
		holding <- err
	}()
	time.Sleep(500 * time.Millisecond)
	release, err = root.LockHost(ctx, time.Second)
	if err != nil {
		t.Fatalf("an unprivileged user's hold blocked the run: %v", err)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	if err := <-holding; err == nil {
		t.Fatal("the unprivileged user held the host lock")
	}

	// On a fresh host she creates the lock first: it is refused, by path
	// and owner, not used (nor waited on as if another run held it).
	h2 := testhost.New(t, testhost.Options{Users: []testhost.User{{Name: "mallory"}}})
	mallory2 := mustGet(t, pool(t, rootOptions(t, h2)), sshx.Endpoint{Host: h2.Addr, User: "mallory"})
	precreate := `d=${1%/*}; mkdir -p -- "$d" && chmod 0777 "$d" 2>/dev/null; : >> "$1" && chmod 0666 "$1"`
	if _, err := mallory2.Run(ctx, sshx.Command{Argv: []string{"sh", "-c", precreate, "sh", sshx.LockFile}}); err != nil {
		t.Fatal(err)
	}
	_, err = lockClient(t, h2, "job-B").LockHost(ctx, time.Second)
	if err == nil {
		t.Fatalf("a lock pre-created by another user was used: %s", hostOut(t, h2, "ls -la "+sshx.LockFile+"; cat "+sshx.LockFile))
	}
	if errors.Is(err, sshx.ErrLocked) {
		t.Fatalf("a pre-created lock is reported as held by a run: %v", err)
	}
	t.Logf("refused: %v", err)
	for _, want := range []string{h2.Addr, "/run/lock/terraform-provider-conntrack", "mallory"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not name %q", err, want)
		}
	}
}
