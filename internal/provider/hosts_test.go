package provider

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/converge"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/sshx"
)

// fakeSnapshots reads snapshots of nothing but the request, counting the
// reads; gate, when set, holds each read until it is closed.
type fakeSnapshots struct {
	mu    sync.Mutex
	reads []conntrack.SnapshotRequest
	gate  chan struct{}
	fail  error
}

func (f *fakeSnapshots) read(_ context.Context, req conntrack.SnapshotRequest) (*conntrack.Snapshot, error) {
	f.mu.Lock()
	f.reads = append(f.reads, req)
	gate, fail := f.gate, f.fail
	f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if fail != nil {
		return nil, fail
	}
	return conntrack.ParseSnapshot("@@ctfacts:begin\n@@ctfacts:end\n", req)
}

func (f *fakeSnapshots) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reads)
}

var (
	needFile = conntrack.SnapshotRequest{Files: []string{"/etc/sysconfig/other-config"}}
	fileDeps = []string{scopeFile("/etc/sysconfig/other-config")}
)

// One read per host per walk: concurrent askers wait for the one in
// flight, later ones use it; each host has its own.
func TestWalkReadsOneReadPerHost(t *testing.T) {
	t.Parallel()
	w := newWalkReads()
	f := &fakeSnapshots{gate: make(chan struct{})}
	var wg sync.WaitGroup
	snaps := make([]*conntrack.Snapshot, 8)
	for i := range snaps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := w.snapshot(t.Context(), "h1", conntrack.SnapshotRequest{}, []string{scopeKernel}, f.read)
			if err != nil {
				t.Error(err)
			}
			snaps[i] = s
		}()
	}
	for f.count() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // the others queue behind the read
	close(f.gate)
	wg.Wait()
	if f.count() != 1 {
		t.Fatalf("%d reads for 8 concurrent askers, want 1", f.count())
	}
	for _, s := range snaps {
		if s != snaps[0] {
			t.Fatal("askers got different snapshots")
		}
	}
	if s, _ := w.snapshot(t.Context(), "h1", conntrack.SnapshotRequest{}, []string{scopeSysctl}, f.read); s != snaps[0] || f.count() != 1 {
		t.Fatalf("a later asker read again (%d reads)", f.count())
	}
	if got := f.reads[0]; !got.Covers(snapshotDefaults()) {
		t.Errorf("the read %+v lacks the defaults", got)
	}
	if _, _ = w.snapshot(t.Context(), "h2", conntrack.SnapshotRequest{}, nil, f.read); f.count() != 2 {
		t.Fatalf("another host: %d reads, want 2", f.count())
	}
}

// Whichever object of a host comes first, its read holds what the data
// source needs: a plan with the data source and resources reads each host
// once (not so from #14 until the stack was a default).
func TestSnapshotDefaultsHoldTheDataSource(t *testing.T) {
	t.Parallel()
	if !snapshotDefaults().Covers(hostReadNeed) {
		t.Errorf("the snapshot's defaults %+v lack the data source's %+v", snapshotDefaults(), hostReadNeed)
	}
}

// What the snapshot did not read is read, with everything read before.
func TestWalkReadsGrows(t *testing.T) {
	t.Parallel()
	w := newWalkReads()
	f := &fakeSnapshots{}
	first, _ := w.snapshot(t.Context(), "h", conntrack.SnapshotRequest{}, nil, f.read)
	s, _ := w.snapshot(t.Context(), "h", needFile, fileDeps, f.read)
	if f.count() != 2 || s == first || !s.Request().Covers(needFile) || !s.Request().Covers(snapshotDefaults()) {
		t.Fatalf("after %d reads the snapshot read %+v", f.count(), s.Request())
	}
	if again, _ := w.snapshot(t.Context(), "h", conntrack.SnapshotRequest{}, nil, f.read); again != s || f.count() != 2 {
		t.Fatal("the grown snapshot is not the walk's")
	}
}

// A change makes what depends on it read the host again; the rest of the
// snapshot still holds.
func TestWalkReadsChange(t *testing.T) {
	t.Parallel()
	w := newWalkReads()
	f := &fakeSnapshots{}
	first, _ := w.snapshot(t.Context(), "h", needFile, fileDeps, f.read)
	w.changedScopes("h", scopeFile("/etc/sysctl.conf"), scopeSysctl)
	if s, _ := w.snapshot(t.Context(), "h", needFile, fileDeps, f.read); s != first || f.count() != 1 {
		t.Fatal("a change of other scopes read again")
	}
	s, _ := w.snapshot(t.Context(), "h", conntrack.SnapshotRequest{}, []string{scopeKernel, scopeSysctl}, f.read)
	if s == first || f.count() != 2 {
		t.Fatal("a read that depends on the change was not read again")
	}
	// The new read holds again, for everything.
	if again, _ := w.snapshot(t.Context(), "h", needFile, fileDeps, f.read); again != s || f.count() != 2 {
		t.Fatal("the read after the change is not the walk's")
	}
	w.changedScopes("other host", scopeKernel) // no snapshot yet: nothing to do
}

// A change while a read is in flight: who asks after it does not take
// that read, and it stays stale for what changed once it lands.
func TestWalkReadsChangeDuringRead(t *testing.T) {
	t.Parallel()
	w := newWalkReads()
	gate := make(chan struct{})
	f := &fakeSnapshots{gate: gate}
	done := make(chan *conntrack.Snapshot)
	go func() {
		s, _ := w.snapshot(t.Context(), "h", conntrack.SnapshotRequest{}, nil, f.read)
		done <- s
	}()
	for f.count() == 0 {
		time.Sleep(time.Millisecond)
	}
	w.changedScopes("h", scopeKernel)
	f.mu.Lock()
	f.gate = nil // the second read does not wait
	f.mu.Unlock()
	after, _ := w.snapshot(t.Context(), "h", conntrack.SnapshotRequest{}, []string{scopeKernel}, f.read)
	if f.count() != 2 {
		t.Fatalf("%d reads: the asker after the change took the read in flight", f.count())
	}
	close(gate)
	before := <-done
	if before == after {
		t.Fatal("one snapshot for before and after the change")
	}
	if s, _ := w.snapshot(t.Context(), "h", conntrack.SnapshotRequest{}, []string{scopeKernel}, f.read); s != after || f.count() != 2 {
		t.Fatal("the read that started before the change replaced the one after it")
	}
}

// A failed read is shared with who waits for it, and not kept.
func TestWalkReadsFailure(t *testing.T) {
	t.Parallel()
	w := newWalkReads()
	boom := errors.New("boom")
	f := &fakeSnapshots{fail: boom}
	if _, err := w.snapshot(t.Context(), "h", conntrack.SnapshotRequest{}, nil, f.read); !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	f.fail = nil
	if s, err := w.snapshot(t.Context(), "h", conntrack.SnapshotRequest{}, nil, f.read); err != nil || s == nil || f.count() != 2 {
		t.Fatalf("after a failure: %v, %d reads", err, f.count())
	}
}

func TestFileScopes(t *testing.T) {
	t.Parallel()
	got := fileScopes("/etc/sysctl.d/90-x.conf", "", "/etc/modprobe.d/x.conf")
	want := []string{"file:/etc/sysctl.d/90-x.conf", scopeBoot, "file:/etc/modprobe.d/x.conf"}
	if !slices.Equal(got, want) {
		t.Errorf("fileScopes = %v, want %v", got, want)
	}
}

func TestHostErrorWording(t *testing.T) {
	t.Parallel()
	cause := errors.New("boom")
	for _, tc := range []struct {
		err     error
		w       wording
		summary string
		attr    bool
	}{
		{&converge.ReadError{Object: converge.ObjLimits, Err: cause}, wording{}, "Cannot read conntrack limits of h", false},
		{&converge.ReadError{Object: converge.ObjFirewall, Err: cause}, wording{}, "Cannot read the firewall of h", false},
		{&converge.ReadError{Object: converge.ObjModules, Err: cause}, wording{}, "Cannot read the modules of h", false},
		{&converge.ReadError{Object: converge.ObjServices, Err: cause}, wording{}, "Cannot read the firewall services of h", false},
		{&converge.ReadError{Object: converge.ObjFacts, Err: cause}, wording{}, "Cannot read conntrack facts from h", false},
		{&converge.ReadError{Object: converge.ObjFile, Path: "/etc/x", Err: cause}, wording{}, "Cannot read /etc/x on h", false},
		{&converge.ReadError{Object: converge.ObjLimits, Answer: true, Err: cause}, wording{}, "Unexpected answer from h", false},
		{&converge.ReadError{Object: converge.ObjFacts, Answer: true, Err: cause}, wording{}, "Unexpected facts from h", false},
		{&converge.DirError{Path: "/etc/x"}, wording{}, "/etc/x is a directory on h", false},
		{&converge.DirError{Path: "/etc/x"}, wording{dirAttr: path.Root("file")}, "/etc/x is a directory on h", true},
		{&converge.WriteError{Path: "/etc/x", Err: cause}, wording{}, "Cannot write /etc/x on h", false},
		{&converge.WriteError{Path: "/etc/x", Err: cause}, limitsWording, "Cannot persist conntrack limits on h", false},
		{&converge.StepError{Op: converge.OpUnload, Err: cause}, wording{}, "Cannot unload modules on h", false},
	} {
		var diags diag.Diagnostics
		hostError(&diags, "h", tc.err, tc.w)
		if len(diags) != 1 || diags[0].Summary() != tc.summary {
			t.Errorf("%T: %v, want %q", tc.err, diags, tc.summary)
			continue
		}
		if _, attr := diags[0].(diag.DiagnosticWithPath); attr != tc.attr {
			t.Errorf("%q: attribute error %v, want %v", tc.summary, attr, tc.attr)
		}
	}
	var diags diag.Diagnostics
	hostError(&diags, "h", &converge.WriteError{Path: "/etc/x", Err: sshx.ErrNotFound}, notrackWording)
	if d := diags[0].Detail(); len(d) == 0 || !strings.Contains(d, "Use conntrack_nft_notrack_rule") || !strings.Contains(d, "removes ufw") {
		t.Errorf("no hint for a missing directory: %q", d)
	}
}
