package converge

import (
	"context"
	"slices"
	"strings"

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
	// Guard is how a guarded change ended (Armed false: nothing was
	// lowered, so nothing was guarded). Unconfirmed, the host put the
	// files and the running values back.
	Guard GuardReport
}

// LimitsGuardSeconds is how long the host waits for a new login to
// confirm a limits change that lowers a value before it undoes it.
const LimitsGuardSeconds = 30

// Limits persists, then applies live, under the host lock. The files are
// rewritten only where they change; base is this walk's read of them, if
// any. A failed live apply still returns Read (the files are written),
// unless the change lowered a running value: such a change can stop new
// connections, SSH among them, so it runs guarded (the host saves the
// files and the values and restores them unless a new login confirms).
func Limits(ctx context.Context, h Host, ch LimitsChange, base *conntrack.Limits) (LimitsResult, error) {
	unlock, err := h.Lock(mayGuard(ctx))
	if err != nil {
		return LimitsResult{}, err
	}
	defer unlock()
	if ch.ApplyLive && base == nil {
		if base, err = ReadLimits(ctx, h, ch.Paths); err != nil {
			return LimitsResult{}, err
		}
	}
	persist := func() (*conntrack.Limits, error) {
		prev := ch.Prev
		if ch.OldPaths != nil && *ch.OldPaths != ch.Paths {
			if _, err := persistLimits(ctx, h, *ch.OldPaths, conntrack.Managed{}, prev, nil); err != nil {
				return nil, err
			}
			prev = conntrack.Managed{}
		}
		return persistLimits(ctx, h, ch.Paths, ch.Want, prev, base)
	}
	if ch.ApplyLive {
		if lowered := base.Lowering(ch.Want); len(lowered) > 0 {
			return guardedLimits(ctx, h, ch, base, lowered, persist)
		}
	}
	if err := unguarded(ctx, h); err != nil {
		return LimitsResult{}, err
	}
	l, err := persist()
	if err != nil {
		return LimitsResult{}, err
	}
	res := LimitsResult{Read: l}
	if !ch.ApplyLive {
		return res, nil
	}
	writes := res.Read.LiveWrites(ch.Want)
	if len(writes) == 0 {
		return res, nil
	}
	script, args := conntrack.LiveScript(writes)
	out, err := h.Script(ctx, OpApplyLimits, script, nil, args...)
	if err != nil {
		return res, &StepError{Op: OpApplyLimits, Err: err}
	}
	res.Refused = refused(string(out), writes)
	return res, nil
}

// guardedLimits persists and applies a change that lowers running values
// under a guard: the host saves every file the change may write and every
// running value it writes, and puts them back unless a new login confirms
// the complete change.
func guardedLimits(ctx context.Context, h Host, ch LimitsChange, base *conntrack.Limits, lowered []string, persist func() (*conntrack.Limits, error)) (LimitsResult, error) {
	var res LimitsResult
	writes := base.LiveWrites(ch.Want)
	files := []string{ch.Paths.SysctlFile, ch.Paths.ModprobeFile, ch.Paths.ModulesLoadFile}
	if ch.OldPaths != nil && *ch.OldPaths != ch.Paths {
		files = append(files, ch.OldPaths.SysctlFile, ch.OldPaths.ModprobeFile, ch.OldPaths.ModulesLoadFile)
	}
	slices.Sort(files)
	g := conntrack.Guard{Seconds: LimitsGuardSeconds, Kind: conntrack.GuardLimits,
		Label: "lowering " + strings.Join(lowered, ", ") + " (conntrack_limits)", Files: slices.Compact(files)}
	for _, w := range writes {
		g.Values = append(g.Values, w.Path)
	}
	script, args := conntrack.GuardedLiveScript(writes)
	gr, rep, err := guarded(ctx, h, g, func() (err error) {
		res.Read, err = persist()
		return err
	}, OpApplyLimits, script, args)
	res.Guard = rep
	if err != nil {
		return res, err
	}
	// An apply cut short or timed out is rolled back whole, which the guard
	// report says; only what the kernel itself refused is listed.
	for _, r := range conntrack.ParseLive(gr.Output, writes) {
		if r.Reported && !r.OK() {
			res.Refused = append(res.Refused, r)
		}
	}
	return res, nil
}

// refused are the writes the live script's report shows the kernel did
// not take, and those it never reported on (the apply ended first).
func refused(out string, writes []conntrack.LiveWrite) []conntrack.LiveResult {
	var bad []conntrack.LiveResult
	for _, r := range conntrack.ParseLive(out, writes) {
		if !r.Reported {
			r.Err = "the host reported nothing for it (the apply ended before this write)"
		}
		if !r.OK() {
			bad = append(bad, r)
		}
	}
	return bad
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
