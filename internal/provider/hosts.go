package provider

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/converge"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/sshx"
)

// host returns the shared connection to the model's host, or adds an error
// diagnostic naming the host.
func (pd *providerData) host(ctx context.Context, conn connectionModel, diags *diag.Diagnostics) converge.Host {
	h, err := converge.Connect(ctx, pd.pool, conn.endpoint())
	if err != nil {
		diags.AddError(fmt.Sprintf("Cannot connect to %s", conn.Host.ValueString()), detail(err))
		return nil
	}
	pd.insecure.warn(h.Endpoint().Address(), diags)
	return h
}

// walkReads is the per-walk read cache: one snapshot of each host
// (converge.ReadSnapshot), read in one remote command by the first object
// that needs the host and used by every other object of that host in the
// walk, for refresh, plan and as an apply's base. Concurrent askers wait
// for the one read in flight. A change the walk makes to a host marks what
// it changed (scopes: "kernel", "sysctl", "file:PATH", ...); a view that
// depends on a scope changed since its snapshot started is read again, so
// every read after a write goes to the host. A read that fails is shared
// with the askers waiting for it, not kept.
type walkReads struct {
	mu    sync.Mutex
	hosts map[string]*hostReads
}

// hostReads is one host's snapshots.
type hostReads struct {
	// want is what the snapshots read: the defaults of every object, and
	// what every object of the walk asked for on this host.
	want conntrack.SnapshotRequest
	// clock orders snapshot starts and changes; changed maps a scope to
	// the clock of its last change.
	clock   uint64
	changed map[string]uint64
	snap    *conntrack.Snapshot
	start   uint64 // clock when snap's read started
	flight  *snapFlight
}

// snapFlight is a snapshot read in flight.
type snapFlight struct {
	start uint64
	req   conntrack.SnapshotRequest
	done  chan struct{}
	snap  *conntrack.Snapshot
	err   error
}

func newWalkReads() walkReads { return walkReads{hosts: map[string]*hostReads{}} }

// snapshotDefaults are the reads every snapshot makes: each object's
// defaults and the data source's firewall stack, so that a walk reads a host
// once whichever object comes first; only the nft ruleset waits for an
// object that asks for it (see DECISIONS.md).
func snapshotDefaults() conntrack.SnapshotRequest {
	return conntrack.SnapshotRequest{
		Stack:    true,
		Limits:   []conntrack.LimitsPaths{{SysctlFile: defaultSysctlFile, ModprobeFile: defaultModprobeFile, ModulesLoadFile: defaultModulesLoadFile}},
		Modules:  []conntrack.ModulesRead{{File: defaultBlacklistFile, Modules: slices.Clone(conntrack.ClassicBlacklist)}},
		Firewall: []conntrack.FirewallRead{{IPVersion: 4}, {IPVersion: 6}},
		Files:    []string{defaultIptablesConfig(4), defaultIptablesConfig(6)},
	}
}

// fresh reports whether a read started at start still holds for deps.
func (h *hostReads) fresh(start uint64, deps []string) bool {
	for _, d := range deps {
		if h.changed[d] >= start {
			return false
		}
	}
	return true
}

// snapshot returns a snapshot of host key that holds need and that no
// change of deps since has made stale: the walk's, the one in flight, or
// a new one read by read.
func (w *walkReads) snapshot(ctx context.Context, key string, need conntrack.SnapshotRequest, deps []string,
	read func(context.Context, conntrack.SnapshotRequest) (*conntrack.Snapshot, error)) (*conntrack.Snapshot, error) {
	w.mu.Lock()
	h := w.hosts[key]
	if h == nil {
		h = &hostReads{want: snapshotDefaults(), changed: map[string]uint64{}}
		w.hosts[key] = h
	}
	h.want.Add(need)
	if h.snap != nil && h.fresh(h.start, deps) && h.snap.Request().Covers(need) {
		snap := h.snap
		w.mu.Unlock()
		return snap, nil
	}
	f := h.flight
	if f == nil || !h.fresh(f.start, deps) || !f.req.Covers(need) {
		h.clock++
		f = &snapFlight{start: h.clock, req: h.want.Clone(), done: make(chan struct{})}
		h.flight = f
		w.mu.Unlock()
		f.snap, f.err = read(ctx, f.req)
		w.mu.Lock()
		if f.err == nil && f.start > h.start {
			h.snap, h.start = f.snap, f.start
		}
		if h.flight == f {
			h.flight = nil
		}
		close(f.done)
	}
	w.mu.Unlock()
	select {
	case <-f.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return f.snap, f.err
}

// changed marks what a change to host key changed: every read of it
// from now on goes to the host.
func (w *walkReads) changedScopes(key string, scopes ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	h := w.hosts[key]
	if h == nil {
		return
	}
	h.clock++
	for _, s := range scopes {
		h.changed[s] = h.clock
	}
}

// Scopes of a host that a change can make stale.
const (
	// scopeKernel: modules, tables, rules or services changed (a NOTRACK
	// rule loads modules, stopping a firewall flushes and unloads).
	scopeKernel = "kernel"
	// scopeSysctl: running conntrack sysctls changed.
	scopeSysctl = "sysctl"
	// scopeBoot: a sysctl file read at boot changed.
	scopeBoot = "sysctl-boot"
)

// scopeFile is the scope of one file's bytes.
func scopeFile(path string) string { return "file:" + path }

// fileScopes are the scopes a write of paths changes.
func fileScopes(paths ...string) []string {
	var scopes []string
	for _, p := range paths {
		if p == "" {
			continue
		}
		scopes = append(scopes, scopeFile(p))
		if p == conntrack.EtcSysctlConf || strings.HasPrefix(p, "/etc/sysctl.d/") {
			scopes = append(scopes, scopeBoot)
		}
	}
	return scopes
}

// hostKey names a host in the walk's cache.
func (pd *providerData) hostKey(conn connectionModel) string {
	return pd.pool.Resolve(conn.endpoint()).String()
}

// changed records that this walk changed the model's host.
func (pd *providerData) changed(conn connectionModel, scopes ...string) {
	pd.reads.changedScopes(pd.hostKey(conn), scopes...)
}

// snapRead is what an object reads of a host: need extends the snapshot's
// request; deps are the scopes the view depends on; view picks the
// object's read out of the snapshot (converge.LimitsOf, ...); direct, when
// not nil, reads the object alone where the view says
// converge.ErrNotInSnapshot.
type snapRead[T any] struct {
	obj converge.Object
	// path is the file of an ObjFile read.
	path   string
	need   conntrack.SnapshotRequest
	deps   []string
	view   func(*conntrack.Snapshot) (*T, error)
	direct func(converge.Host) (*T, error)
}

// readHost returns the object's read from the walk's snapshot of the
// model's host (see walkReads), or nil after adding an error worded by w.
func readHost[T any](ctx context.Context, pd *providerData, conn connectionModel, r snapRead[T], w wording, diags *diag.Diagnostics) *T {
	v, err := readSnap(ctx, pd, conn, r, diags)
	if err != nil {
		hostError(diags, conn.Host.ValueString(), err, w)
		return nil
	}
	return v
}

// connectError is a failed connection, worded as pd.host words it.
type connectError struct{ err error }

func (e *connectError) Error() string { return e.err.Error() }

// baseRead is an apply's base: the object's read from the walk's snapshot,
// or nil (the converge layer then reads the host itself).
func baseRead[T any](ctx context.Context, pd *providerData, conn connectionModel, r snapRead[T]) *T {
	var diags diag.Diagnostics
	v, err := readSnap(ctx, pd, conn, r, &diags)
	if err != nil {
		return nil
	}
	return v
}

func readSnap[T any](ctx context.Context, pd *providerData, conn connectionModel, r snapRead[T], diags *diag.Diagnostics) (*T, error) {
	e := pd.pool.Resolve(conn.endpoint())
	snap, err := pd.reads.snapshot(ctx, e.String(), r.need, r.deps, func(ctx context.Context, req conntrack.SnapshotRequest) (*conntrack.Snapshot, error) {
		h, err := converge.Connect(ctx, pd.pool, conn.endpoint())
		if err != nil {
			return nil, &connectError{err}
		}
		return converge.ReadSnapshot(ctx, h, req)
	})
	var ce *connectError
	if errors.As(err, &ce) {
		diags.AddError(fmt.Sprintf("Cannot connect to %s", conn.Host.ValueString()), detail(ce.err))
		return nil, nil
	}
	pd.insecure.warn(e.Address(), diags)
	var readErr *converge.ReadError
	if errors.As(err, &readErr) {
		// The host's read failed: worded as this object's.
		asked := *readErr
		asked.Object, asked.Path = r.obj, r.path
		return nil, &asked
	}
	if err != nil {
		return nil, &converge.ReadError{Object: r.obj, Path: r.path, Err: err}
	}
	v, err := r.view(snap)
	if errors.Is(err, converge.ErrNotInSnapshot) && r.direct != nil {
		h := pd.host(ctx, conn, diags)
		if h == nil {
			return nil, nil
		}
		v, err = r.direct(h)
	}
	return v, err
}

// wording is how a resource words the failures of its host steps that
// differ from the common wording.
type wording struct {
	// dirAttr is the attribute naming a file that is a directory.
	dirAttr path.Path
	// write is the summary of a failed write, with the host; empty:
	// "Cannot write FILE on HOST".
	write string
	// writeHint is added to a failed write's detail when the file's
	// directory does not exist.
	writeHint string
}

// readSummaries word a failed read of each object, with the host.
var readSummaries = map[converge.Object]string{
	converge.ObjLimits:   "Cannot read conntrack limits of %s",
	converge.ObjFirewall: "Cannot read the firewall of %s",
	converge.ObjModules:  "Cannot read the modules of %s",
	converge.ObjServices: "Cannot read the firewall services of %s",
	converge.ObjFacts:    "Cannot read conntrack facts from %s",
	converge.ObjNft:      "Cannot read the nftables ruleset of %s",
}

// stepSummaries word a failed remote step, with the host.
var stepSummaries = map[string]string{
	converge.OpApplyLimits:    "Cannot apply conntrack limits on %s",
	converge.OpApplyNotrack:   "Cannot apply NOTRACK rules on %s",
	converge.OpUnload:         "Cannot unload modules on %s",
	converge.OpRebuild:        "Cannot rebuild the initramfs of %s",
	converge.OpChangeServices: "Cannot change the firewall services of %s",
	converge.OpApplyNft:       "Cannot apply the nftables NOTRACK table on %s",
}

// hostError words an error of the converge layer as one diagnostic: the
// one place that says "cannot read", "unexpected answer", "cannot write".
func hostError(diags *diag.Diagnostics, host string, err error, w wording) {
	var (
		readErr  *converge.ReadError
		dirErr   *converge.DirError
		writeErr *converge.WriteError
		stepErr  *converge.StepError
	)
	switch {
	case errors.As(err, &readErr) && readErr.Answer && readErr.Object == converge.ObjFacts:
		diags.AddError(fmt.Sprintf("Unexpected facts from %s", host),
			fmt.Sprintf("%v\n\nThe host's /proc or /etc/os-release looks unusual; please report this with the host's OS and kernel.", readErr.Err))
	case errors.As(err, &readErr) && readErr.Answer:
		diags.AddError(fmt.Sprintf("Unexpected answer from %s", host), readErr.Err.Error())
	case errors.As(err, &readErr) && readErr.Object == converge.ObjFile:
		diags.AddError(fmt.Sprintf("Cannot read %s on %s", readErr.Path, host), detail(readErr.Err))
	case errors.As(err, &readErr):
		diags.AddError(fmt.Sprintf(readSummaries[readErr.Object], host), detail(readErr.Err))
	case errors.As(err, &dirErr) && len(w.dirAttr.Steps()) > 0:
		diags.AddAttributeError(w.dirAttr, fmt.Sprintf("%s is a directory on %s", dirErr.Path, host), "Name a file.")
	case errors.As(err, &dirErr):
		diags.AddError(fmt.Sprintf("%s is a directory on %s", dirErr.Path, host), "Name a file, not a directory.")
	case errors.As(err, &writeErr):
		summary := fmt.Sprintf("Cannot write %s on %s", writeErr.Path, host)
		if w.write != "" {
			summary = fmt.Sprintf(w.write, host)
		}
		hint := ""
		if w.writeHint != "" && errors.Is(writeErr.Err, sshx.ErrNotFound) {
			hint = "\n\n" + w.writeHint
		}
		diags.AddError(summary, detail(writeErr.Err)+hint)
	case errors.As(err, &stepErr) && stepSummaries[stepErr.Op] != "":
		diags.AddError(fmt.Sprintf(stepSummaries[stepErr.Op], host), detail(stepErr.Err))
	default:
		diags.AddError(fmt.Sprintf("Cannot change %s", host), detail(err))
	}
}
