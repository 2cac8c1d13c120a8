package converge

import (
	"context"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
)

// ReadLimits reads the conntrack settings and the files that persist them.
func ReadLimits(ctx context.Context, h Host, paths conntrack.LimitsPaths) (*conntrack.Limits, error) {
	script, args := conntrack.LimitsScript(paths)
	l, err := read(ctx, h, ObjLimits, "read conntrack limits", script, args, func(out string) (conntrack.Limits, error) {
		return conntrack.ParseLimits(out, paths)
	})
	if err != nil {
		return nil, err
	}
	return &l, checkLimits(&l)
}

// checkLimits refuses a file of the resource that is a directory.
func checkLimits(l *conntrack.Limits) error {
	for _, f := range []conntrack.File{l.Sysctl, l.Modprobe} {
		if f.IsDir {
			return &DirError{Path: f.Path}
		}
	}
	return nil
}

// LimitsChange is a conntrack_limits apply: the files to write, what they
// hold now and held before.
type LimitsChange struct {
	Paths conntrack.LimitsPaths
	// OldPaths, when not nil and different, are files to release Prev's
	// keys from first (the resource's file names changed).
	OldPaths  *conntrack.LimitsPaths
	Want      conntrack.Managed
	Prev      conntrack.Managed
	ApplyLive bool
}

// LimitsResult is what a limits apply did.
type LimitsResult struct {
	// Read is the read the files were persisted from; nil when nothing
	// was persisted.
	Read *conntrack.Limits
	// Refused are the live writes the kernel did not take.
	Refused []conntrack.LiveResult
}

// Limits persists, then applies live, under the host lock. The files are
// rewritten only where they change; base is this walk's read of them, if
// any. A failed live apply still returns Read (the files are written).
func Limits(ctx context.Context, h Host, ch LimitsChange, base *conntrack.Limits) (LimitsResult, error) {
	unlock, err := h.Lock(ctx)
	if err != nil {
		return LimitsResult{}, err
	}
	defer unlock()
	prev := ch.Prev
	if ch.OldPaths != nil && *ch.OldPaths != ch.Paths {
		if _, err := persistLimits(ctx, h, *ch.OldPaths, conntrack.Managed{}, prev, nil); err != nil {
			return LimitsResult{}, err
		}
		prev = conntrack.Managed{}
	}
	l, err := persistLimits(ctx, h, ch.Paths, ch.Want, prev, base)
	if err != nil {
		return LimitsResult{}, err
	}
	res := LimitsResult{Read: l}
	if !ch.ApplyLive {
		return res, nil
	}
	writes := l.LiveWrites(ch.Want)
	if len(writes) == 0 {
		return res, nil
	}
	script, args := conntrack.LiveScript(writes)
	out, err := h.Script(ctx, OpApplyLimits, script, nil, args...)
	if err != nil {
		return res, &StepError{Op: OpApplyLimits, Err: err}
	}
	for _, r := range conntrack.ParseLive(string(out), writes) {
		if !r.OK() {
			res.Refused = append(res.Refused, r)
		}
	}
	return res, nil
}

// persistLimits rewrites the files that change so that they hold what want
// manages and no longer what only prev managed.
func persistLimits(ctx context.Context, h Host, paths conntrack.LimitsPaths, want, prev conntrack.Managed, base *conntrack.Limits) (*conntrack.Limits, error) {
	return edit(base, func() (*conntrack.Limits, error) { return ReadLimits(ctx, h, paths) }, func(l *conntrack.Limits) error {
		read := map[string]conntrack.File{l.Sysctl.Path: l.Sysctl, l.Modprobe.Path: l.Modprobe, l.ModulesLoad.Path: l.ModulesLoad}
		for _, f := range l.EditFiles(want, prev) {
			if err := writeOver(ctx, h, read[f.Path], f.Content, 0o644); err != nil {
				return err
			}
		}
		return nil
	})
}
