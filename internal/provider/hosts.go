package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"

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

// walkReads is the per-walk read cache. Its one rule: every read of a host
// is remembered; a plan (ModifyPlan) starts from the remembered read, so
// the plan after a refresh needs no second remote command; an apply takes
// (and forgets) it as the base of its first attempt: a read is the base of
// at most one write, and every write checks the file is unchanged since
// the read, else reads again. Read (refresh) always reads afresh.
type walkReads struct {
	mu    sync.Mutex
	reads map[string]any
}

// readKey names a read in the cache: what was read (kind and the
// parameters that shape the read) on which endpoint.
func (pd *providerData) readKey(kind string, conn connectionModel, params ...string) string {
	return strings.Join(append([]string{kind, pd.pool.Resolve(conn.endpoint()).String()}, params...), " ")
}

func (w *walkReads) remember(key string, read any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.reads[key] = read
}

func (w *walkReads) get(key string, forget bool) any {
	w.mu.Lock()
	defer w.mu.Unlock()
	read := w.reads[key]
	if forget {
		delete(w.reads, key)
	}
	return read
}

// readMode says which read a caller wants.
type readMode bool

const (
	// refresh reads afresh (Read).
	refresh readMode = true
	// planned starts from the walk's read when there is one (ModifyPlan).
	planned readMode = false
)

// readHost connects, reads and remembers the read, or (planned) returns
// the walk's read of key when there is one; nil after adding an error
// worded by w.
func readHost[T any](ctx context.Context, pd *providerData, conn connectionModel, key string, mode readMode, w wording,
	diags *diag.Diagnostics, read func(converge.Host) (*T, error)) *T {
	if v, ok := pd.reads.get(key, false).(*T); ok && mode == planned {
		return v
	}
	h := pd.host(ctx, conn, diags)
	if h == nil {
		return nil
	}
	v, err := read(h)
	if err != nil {
		hostError(diags, conn.Host.ValueString(), err, w)
		return nil
	}
	pd.reads.remember(key, v)
	return v
}

// takeRead is the remembered read for an apply's first attempt, or nil.
func takeRead[T any](pd *providerData, key string) *T {
	v, _ := pd.reads.get(key, true).(*T)
	return v
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
}

// stepSummaries word a failed remote step, with the host.
var stepSummaries = map[string]string{
	converge.OpApplyLimits:    "Cannot apply conntrack limits on %s",
	converge.OpApplyNotrack:   "Cannot apply NOTRACK rules on %s",
	converge.OpUnload:         "Cannot unload modules on %s",
	converge.OpRebuild:        "Cannot rebuild the initramfs of %s",
	converge.OpChangeServices: "Cannot change the firewall services of %s",
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
