// Package converge is the layer between the Terraform provider and a host:
// per object (limits, NOTRACK rule, iptables-config, firewall services,
// module blacklist, host facts) it reads the host's state and converges it
// to a desired state — the read -> edit -> write loop with conflict retry,
// live apply, read-back and guarded changes — over Host, a small interface
// the SSH transport satisfies and tests stub. It returns structured
// results (what changed, what the kernel refused, what was rolled back) and
// words no diagnostics: that is the provider's job.
package converge

import (
	"context"
	"errors"
	"os"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/sshx"
)

// Host is what converging needs of a host.
type Host interface {
	// Script runs a POSIX sh script with positional arguments.
	Script(ctx context.Context, op, script string, stdin []byte, args ...string) ([]byte, error)
	// ReadFile returns a file's bytes; a missing file is sshx.ErrNotFound.
	ReadFile(ctx context.Context, path string) ([]byte, error)
	// WriteFile replaces a file atomically; with opts.IfUnchanged it fails
	// with sshx.ErrConflict when someone else changed the file since.
	WriteFile(ctx context.Context, path string, data []byte, opts sshx.WriteOptions) error
	// Lock takes the host-wide lock that every edit of the host holds.
	Lock(ctx context.Context) (unlock func(), err error)
	// DialFresh opens a new, unshared connection to the same host, to
	// prove a new login still works; closeFn releases it.
	DialFresh(ctx context.Context) (h Host, closeFn func(), err error)
}

// SSH is a Host over a connection of an sshx pool.
type SSH struct {
	*sshx.Client
	pool *sshx.Pool
}

// Connect returns the pool's shared connection to e as a Host.
func Connect(ctx context.Context, pool *sshx.Pool, e sshx.Endpoint) (*SSH, error) {
	c, err := pool.Get(ctx, e)
	if err != nil {
		return nil, err
	}
	return &SSH{Client: c, pool: pool}, nil
}

// WriteFile is sshx's atomic write.
func (h *SSH) WriteFile(ctx context.Context, path string, data []byte, opts sshx.WriteOptions) error {
	return h.WriteFileAtomic(ctx, path, data, opts)
}

// Lock takes the host lock that every change to the host holds: first this
// process's own (so the resources of one walk queue here rather than each
// holding a session on the host), then the host's flock (sshx.LockFile),
// which every Terraform process and CI job shares and the kernel releases
// if the holder dies. It waits at most command_timeout for another run,
// and then for the host's pending guarded changes (conntrack.ArmScript).
// The flock is held for as long as any change of the host is in flight in
// this process or waits for its confirmation (hostGate), so the changes of
// one walk share one lock session. A change that may run guarded
// (mayGuard) can run while earlier guarded changes await their one
// confirming login; any other waits for that login first (batch.go).
func (h *SSH) Lock(ctx context.Context) (func(), error) {
	g := gateOf(h)
	unlock, err := g.lock(ctx, func(ctx context.Context) (func() error, error) {
		return h.LockHostWhen(ctx, h.CommandTimeout(), conntrack.GuardsSettledScript)
	})
	if err != nil {
		g.release()
		return nil, err
	}
	return func() {
		// A failed release of the flock means the holder is gone
		// already, and the lock with it.
		unlock()
		g.release()
	}, nil
}

// DialFresh dials the host again, outside the pool's sharing.
func (h *SSH) DialFresh(ctx context.Context) (Host, func(), error) {
	c, err := h.pool.DialFresh(ctx, h.Endpoint())
	if err != nil {
		return nil, nil, err
	}
	return &SSH{Client: c, pool: h.pool}, func() { _ = c.Close() }, nil
}

// Object names what a read was for, so the provider can word its failure.
type Object string

// The objects read.
const (
	ObjLimits   Object = "limits"
	ObjFirewall Object = "firewall"
	ObjModules  Object = "modules"
	ObjServices Object = "services"
	ObjFacts    Object = "facts"
	ObjFile     Object = "file"
)

// attemptsMax is how many times a read -> edit -> write starts over when
// someone else writes the file in between.
const attemptsMax = 3

// ReadError is a failed read: the command failed, or (Answer) the host's
// answer could not be parsed.
type ReadError struct {
	Object Object
	Path   string // for ObjFile
	Answer bool
	Err    error
}

func (e *ReadError) Error() string { return e.Err.Error() }
func (e *ReadError) Unwrap() error { return e.Err }

// DirError is a file the resource names that is a directory on the host.
type DirError struct{ Path string }

func (e *DirError) Error() string { return e.Path + " is a directory" }

// WriteError is a failed write of Path.
type WriteError struct {
	Path string
	Err  error
}

func (e *WriteError) Error() string { return e.Err.Error() }
func (e *WriteError) Unwrap() error { return e.Err }

// StepError is a failed remote step other than a read or a write: Op says
// which ("apply conntrack limits", "unload modules", ...).
type StepError struct {
	Op  string
	Err error
}

func (e *StepError) Error() string { return e.Err.Error() }
func (e *StepError) Unwrap() error { return e.Err }

// The remote steps of StepError.
const (
	OpApplyLimits    = "apply conntrack limits"
	OpApplyNotrack   = "apply notrack rules"
	OpRebuild        = "rebuild initramfs"
	OpUnload         = "unload modules"
	OpChangeServices = "change firewall services"
)

// read runs a read script and parses its answer.
func read[T any](ctx context.Context, h Host, obj Object, op, script string, args []string, parse func(string) (T, error)) (T, error) {
	var zero T
	out, err := h.Script(ctx, op, script, nil, args...)
	if err != nil {
		return zero, &ReadError{Object: obj, Err: err}
	}
	v, err := parse(string(out))
	if err != nil {
		return zero, &ReadError{Object: obj, Answer: true, Err: err}
	}
	return v, nil
}

// edit is the read -> edit -> write loop: write computes and writes what
// changes from a read, and a write that meets someone else's edit
// (sshx.ErrConflict) starts again from a new read, up to three times. The
// first attempt starts from base when it is not nil (a read of this walk:
// the write still checks the file is unchanged since). It returns the read
// the successful write was computed from.
func edit[T any](base *T, fresh func() (*T, error), write func(*T) error) (*T, error) {
	for attempt := 1; ; attempt++ {
		cur := base
		if attempt > 1 || cur == nil {
			var err error
			if cur, err = fresh(); err != nil {
				return nil, err
			}
		}
		err := write(cur)
		if errors.Is(err, sshx.ErrConflict) && attempt < attemptsMax {
			continue
		}
		if err != nil {
			return nil, err
		}
		return cur, nil
	}
}

// writeOver replaces a file read as old with content, keeping a backup,
// unless someone else changed the file since it was read (sshx.ErrConflict).
func writeOver(ctx context.Context, h Host, old conntrack.File, content []byte, mode os.FileMode) error {
	expect := sshx.Absent
	if old.Exists {
		expect = &old.Content
	}
	if err := h.WriteFile(ctx, old.Path, content, sshx.WriteOptions{Mode: mode, Backup: true, IfUnchanged: expect}); err != nil {
		return &WriteError{Path: old.Path, Err: err}
	}
	return nil
}
