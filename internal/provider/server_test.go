package provider

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
)

type ctxKey struct{}

func TestReleasableForwardsUntilReleased(t *testing.T) {
	t.Parallel()
	deadline := time.Now().Add(time.Hour)
	parent, cancel := context.WithDeadline(context.WithValue(t.Context(), ctxKey{}, "v"), deadline)
	defer cancel()
	r := newReleasable(parent)
	if got := r.Value(ctxKey{}); got != "v" {
		t.Errorf("Value before release = %v, want the parent's", got)
	}
	if d, ok := r.Deadline(); !ok || !d.Equal(deadline) {
		t.Errorf("Deadline before release = %v, %v, want the parent's", d, ok)
	}
	if r.Err() != nil {
		t.Errorf("Err before release = %v", r.Err())
	}
	// A context derived from it is cancelled with the parent.
	child, stop := context.WithCancel(r)
	defer stop()
	cancel()
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a child of the releasable was not cancelled with its parent")
	}

	r.release()
	if got := r.Value(ctxKey{}); got != nil {
		t.Errorf("Value after release = %v, want nil", got)
	}
	if _, ok := r.Deadline(); ok {
		t.Error("a released context still has the parent's deadline")
	}
	if !errors.Is(r.Err(), context.Canceled) {
		t.Errorf("Err after release = %v, want context.Canceled", r.Err())
	}
	select {
	case <-r.Done():
	default:
		t.Error("a released context is not done")
	}
}

// rpcContexts calls server's ValidateResourceConfig n times, as gRPC does:
// each call with its own context, cancelled when the call returns. Each
// context carries a value whose release it counts in freed.
func rpcContexts(t *testing.T, server tfprotov6.ProviderServer, n int, freed *atomic.Int64) {
	t.Helper()
	for range n {
		tracked := new([1 << 10]byte)
		runtime.AddCleanup(tracked, func(*atomic.Int64) { freed.Add(1) }, freed)
		ctx, cancel := context.WithCancel(context.WithValue(t.Context(), ctxKey{}, tracked))
		if _, err := server.ValidateResourceConfig(ctx, &tfprotov6.ValidateResourceConfigRequest{TypeName: "conntrack_limits"}); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
}

// collected runs the garbage collector until want values are freed, or
// for at most wait, and returns how many were.
func collected(freed *atomic.Int64, want int64, wait time.Duration) int64 {
	for deadline := time.Now().Add(wait); freed.Load() < want && time.Now().Before(deadline); {
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // cleanups run on their own goroutine
	}
	return freed.Load()
}

// TestServerReleasesRPCContexts: what an RPC's context holds (in a walk:
// the per-RPC loggers) is garbage once the RPC returned, however many RPCs
// the provider process serves. The framework's own server keeps every
// context until StopProvider; the control proves the test would see it.
func TestServerReleasesRPCContexts(t *testing.T) {
	t.Parallel()
	const n = 50
	server, err := NewServer("test")()
	if err != nil {
		t.Fatal(err)
	}
	var freed atomic.Int64
	rpcContexts(t, server, n, &freed)
	if got := collected(&freed, n, 10*time.Second); got != n {
		t.Errorf("NewServer: %d of %d RPC contexts were freed after their RPCs returned", got, n)
	}
	runtime.KeepAlive(server)

	// Control: the framework's server as providerserver builds it.
	framework := providerserver.NewProtocol6(New("test")())()
	var kept atomic.Int64
	rpcContexts(t, framework, n, &kept)
	if got := collected(&kept, 1, time.Second); got != 0 {
		t.Errorf("the framework's own server freed %d of %d RPC contexts: it no longer keeps them, and releasingServer may go (DECISIONS.md, Memory)", got, n)
	}
	runtime.KeepAlive(framework)
}
