package converge

import (
	"context"
	"errors"
	"time"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
)

// ObjHost is a combined read of a host (ReadSnapshot); the provider words
// its failure as the read of the object that asked for it.
const ObjHost Object = "host"

// OpReadHost is the remote command of ReadSnapshot.
const OpReadHost = "read host"

// ReadSnapshot reads everything req asks for, the facts and the firewall
// services in one remote command that only reads (conntrack.SnapshotScript).
// The views below turn it into the per-object reads.
func ReadSnapshot(ctx context.Context, h Host, req conntrack.SnapshotRequest) (*conntrack.Snapshot, error) {
	script, args := conntrack.SnapshotScript(req)
	return read(ctx, h, ObjHost, OpReadHost, script, args, func(out string) (*conntrack.Snapshot, error) {
		return conntrack.ParseSnapshot(out, req)
	})
}

// ErrNotInSnapshot is a view of something the snapshot did not read.
var ErrNotInSnapshot = errors.New("not in the host snapshot")

// view wraps a snapshot view's failures as ReadLimits & co. word them.
func view[T any](obj Object, v T, ok bool, err error) (*T, error) {
	switch {
	case !ok:
		return nil, ErrNotInSnapshot
	case err != nil:
		return nil, &ReadError{Object: obj, Answer: true, Err: err}
	}
	return &v, nil
}

// FactsOf is ReadFacts from a snapshot.
func FactsOf(s *conntrack.Snapshot) (conntrack.Facts, error) {
	f, err := s.Facts()
	if err != nil {
		return f, &ReadError{Object: ObjFacts, Answer: true, Err: err}
	}
	return f, nil
}

// LimitsOf is ReadLimits from a snapshot.
func LimitsOf(s *conntrack.Snapshot, paths conntrack.LimitsPaths) (*conntrack.Limits, error) {
	v, ok, err := s.Limits(paths)
	l, err := view(ObjLimits, v, ok, err)
	if err != nil {
		return nil, err
	}
	return l, checkLimits(l)
}

// ModulesOf is ReadModules from a snapshot.
func ModulesOf(s *conntrack.Snapshot, file string, modules []string) (*conntrack.ModuleHost, error) {
	v, ok, err := s.Modules(file, modules)
	m, err := view(ObjModules, v, ok, err)
	if err != nil {
		return nil, err
	}
	return checkModules(m)
}

// FirewallOf is ReadFirewall from a snapshot.
func FirewallOf(s *conntrack.Snapshot, declared string, ipVersion int) (*conntrack.Firewall, error) {
	v, ok, err := s.Firewall(declared, ipVersion)
	fw, err := view(ObjFirewall, v, ok, err)
	if err != nil {
		return nil, err
	}
	return checkFirewall(fw)
}

// ServicesOf is ReadServices from a snapshot.
func ServicesOf(s *conntrack.Snapshot, services []string) (*conntrack.ServiceHost, error) {
	v, ok, err := s.Services(services)
	return view(ObjServices, v, ok, err)
}

// FileOf is ReadFile from a snapshot. A directory or an unreadable file
// is ErrNotInSnapshot: ReadFile words those.
func FileOf(s *conntrack.Snapshot, path string) (*conntrack.File, error) {
	f, ok, err := s.File(path)
	if !ok || err != nil || f.IsDir {
		return nil, ErrNotInSnapshot
	}
	return &f, nil
}

// checkFirewall refuses a rules file that is a directory, as ReadFirewall.
func checkFirewall(fw *conntrack.Firewall) (*conntrack.Firewall, error) {
	if fw.Rules.IsDir {
		return nil, &DirError{Path: fw.Rules.Path}
	}
	return fw, nil
}

// StackOf is the firewall stack read of a snapshot.
func StackOf(s *conntrack.Snapshot) (*conntrack.Stack, error) {
	v, ok, err := s.Stack()
	return view(ObjFacts, v, ok, err)
}

// OpSummary is the remote command of ReadSummary.
const OpSummary = "summarise the conntrack table"

// ReadSummary summarises the host's conntrack table (conntrack.SummaryScript):
// the top groups, within budget on the host. It is a command of its own,
// not part of the snapshot: it is opt-in and may take the whole budget,
// and the snapshot is read again after every change of a walk.
func ReadSummary(ctx context.Context, h Host, top int, budget time.Duration) (*conntrack.TableSummary, error) {
	script, args := conntrack.SummaryScript(top, budget)
	return read(ctx, h, ObjFacts, OpSummary, script, args, func(out string) (*conntrack.TableSummary, error) {
		s, err := conntrack.ParseSummary(out)
		return &s, err
	})
}
