package converge

import (
	"context"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
)

// ReadModules reads the modprobe.d file, /proc/modules and how each of
// modules is present; it never loads anything.
func ReadModules(ctx context.Context, h Host, file string, modules []string) (*conntrack.ModuleHost, error) {
	script, args := conntrack.ModulesScript(file, modules)
	m, err := read(ctx, h, ObjModules, "read modules", script, args, func(out string) (conntrack.ModuleHost, error) {
		return conntrack.ParseModules(out, file)
	})
	if err != nil {
		return nil, err
	}
	return checkModules(&m)
}

// checkModules refuses a blacklist file that is a directory.
func checkModules(m *conntrack.ModuleHost) (*conntrack.ModuleHost, error) {
	if m.File.IsDir {
		return nil, &DirError{Path: m.File.Path}
	}
	return m, nil
}

// BlacklistChange is a conntrack_module_blacklist apply: Plan's lines
// instead of Prior's in File (Plan nil: destroy).
type BlacklistChange struct {
	File        string
	Plan, Prior *conntrack.Blacklist
	// Unload (with Plan) unloads Plan's modules, and with Force the
	// modules that hold them.
	Unload, Force bool
	// Rebuild regenerates the initramfs unless LastBuild is what the file
	// now holds.
	Rebuild   bool
	LastBuild conntrack.InitramfsBuild
}

// BlacklistResult is what a blacklist apply did.
type BlacklistResult struct {
	// Read is the read the file was edited from.
	Read *conntrack.ModuleHost
	// Holders, when not empty, stopped the unload: modules or firewall
	// rules hold the listed modules, and Force was not set.
	Holders []conntrack.Holder
	// Unloaded are the modules the unload tried, in order; Failed maps
	// each that failed to rmmod's reason.
	Unloaded []string
	Failed   map[string]string
	// Built is the initramfs rebuilt now; nil when no rebuild ran.
	Built *conntrack.InitramfsBuild
}

// Blacklist writes Plan's lines instead of Prior's, then unloads and
// rebuilds the initramfs as asked. A stopped or failed unload leaves the
// file change in place and skips the rebuild.
//
// The initramfs is rebuilt when it was not last built from the file's
// present content, not only when this apply changes the file: after a
// failed rebuild the file already has its lines, and Rebuild may be turned
// on after they were written. Destroy rebuilds too, so early boot stops
// blacklisting as well.
func Blacklist(ctx context.Context, h Host, ch BlacklistChange, base *conntrack.ModuleHost) (BlacklistResult, error) {
	unlock, err := h.Lock(ctx)
	if err != nil {
		return BlacklistResult{}, err
	}
	defer unlock()
	var modules []string
	if ch.Plan != nil {
		modules = ch.Plan.Modules
	} else if ch.Prior != nil {
		modules = ch.Prior.Modules
	}
	var content []byte
	mh, err := edit(base, func() (*conntrack.ModuleHost, error) { return ReadModules(ctx, h, ch.File, modules) },
		func(mh *conntrack.ModuleHost) error {
			content = conntrack.EditBlacklist(mh.File.Content, ch.Plan, ch.Prior)
			if string(content) == string(mh.File.Content) {
				return nil
			}
			return writeOver(ctx, h, mh.File, content, 0o644)
		})
	if err != nil {
		return BlacklistResult{}, err
	}
	res := BlacklistResult{Read: mh}
	if ch.Plan != nil && ch.Unload {
		order, holders := conntrack.UnloadOrder(mh.Loaded, ch.Plan.Modules, ch.Force)
		if len(holders) > 0 && !ch.Force {
			res.Holders = holders
			return res, nil
		}
		if len(order) > 0 {
			res.Unloaded = order
			out, err := h.Script(ctx, OpUnload, conntrack.UnloadScript(), nil, order...)
			if err != nil {
				return res, &StepError{Op: OpUnload, Err: err}
			}
			if res.Failed = conntrack.ParseFailures(string(out)); len(res.Failed) > 0 {
				return res, nil
			}
		}
	}
	built := conntrack.BuildOf(ch.File, content)
	if !ch.Rebuild || ch.LastBuild == built {
		return res, nil
	}
	if _, err := h.Script(ctx, OpRebuild, conntrack.RebuildInitramfsScript, nil); err != nil {
		return res, &StepError{Op: OpRebuild, Err: err}
	}
	res.Built = &built
	return res, nil
}
