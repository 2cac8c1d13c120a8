package sshx

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// Client runs commands on one host over a shared SSH connection, with at most
// MaxSessionsPerHost sessions at a time.
type Client struct {
	endpoint Endpoint
	conn     *ssh.Client
	sessions chan struct{}
	sudo     bool
	timeout  time.Duration
	trace    func(context.Context, Endpoint, string)

	locksMu sync.Mutex
	locks   map[string]*sync.Mutex

	// broken is set when the connection is found dead; the pool then dials anew.
	broken atomic.Bool
}

// keepAliveInterval keeps idle connections (and NAT entries on the way)
// alive during long runs, and notices dead ones.
const keepAliveInterval = 30 * time.Second

func newClient(e Endpoint, conn *ssh.Client, opts Options) *Client {
	c := &Client{
		endpoint: e,
		conn:     conn,
		sessions: make(chan struct{}, opts.MaxSessionsPerHost),
		sudo:     opts.Sudo && e.User != "root",
		timeout:  opts.CommandTimeout,
		trace:    opts.Trace,
		locks:    map[string]*sync.Mutex{},
	}
	go c.keepAlive()
	return c
}

func (c *Client) keepAlive() {
	t := time.NewTicker(keepAliveInterval)
	defer t.Stop()
	for range t.C {
		if _, _, err := c.conn.SendRequest("keepalive@openssh.com", true, nil); err != nil {
			c.broken.Store(true)
			return
		}
	}
}

// Broken reports whether the connection was found dead.
func (c *Client) Broken() bool { return c.broken.Load() }

// Endpoint is who this client is logged in as, where.
func (c *Client) Endpoint() Endpoint { return c.endpoint }

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Command is one remote program run.
type Command struct {
	Argv  []string
	Stdin []byte
	// Privileged commands run through `sudo -n` when the pool uses sudo.
	Privileged bool
	// Op names the command in errors ("read /etc/sysctl.conf").
	Op string
}

// Run runs cmd and returns its stdout. A non-zero exit is an *Error whose
// class is read from the command's stderr (permission, not found, ...).
func (c *Client) Run(ctx context.Context, cmd Command) ([]byte, error) {
	op := cmd.Op
	if op == "" {
		op = "run " + cmd.Argv[0]
	}
	if c.trace != nil {
		c.trace(ctx, c.endpoint, op)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	select {
	case c.sessions <- struct{}{}:
		defer func() { <-c.sessions }()
	case <-ctx.Done():
		return nil, c.fail(op, ErrTimeout, fmt.Errorf("waiting for a free SSH session: %w", ctx.Err()), "")
	}
	session, err := c.conn.NewSession()
	if err != nil {
		c.broken.Store(true)
		return nil, c.fail(op, ErrUnreachable, fmt.Errorf("open session: %w", err), "")
	}
	defer session.Close()

	argv := cmd.Argv
	if cmd.Privileged && c.sudo {
		argv = append([]string{"sudo", "-n", "--"}, argv...)
	}
	var stdout, stderr lockedBuffer
	session.Stdout, session.Stderr = &stdout, &stderr
	if cmd.Stdin != nil {
		session.Stdin = bytes.NewReader(cmd.Stdin)
	}
	started := time.Now()
	done := make(chan error, 1)
	go func() { done <- session.Run(Join(argv)) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = session.Signal(ssh.SIGKILL)
		session.Close()
		// What arrived so far is returned: a command that cut its own
		// connection may have said what it did before.
		return stdout.Bytes(), c.fail(op, ErrTimeout, fmt.Errorf("no answer after %s", time.Since(started).Round(time.Millisecond)),
			"Raise command_timeout if the host is slow.")
	}
	var exit *ssh.ExitError
	switch {
	case err == nil:
		return stdout.Bytes(), nil
	case errors.As(err, &exit):
		return stdout.Bytes(), c.exitError(op, exit.ExitStatus(), strings.TrimSpace(stderr.String()), cmd.Privileged)
	case errors.Is(err, io.EOF), errors.As(err, new(*ssh.ExitMissingError)):
		return nil, c.fail(op, ErrUnreachable, errors.New("the connection closed before the command finished"), "")
	default:
		return nil, c.fail(op, ErrUnreachable, err, "")
	}
}

// Exit statuses our own scripts use to say what went wrong.
const (
	exitNotFound    = 44
	exitIsDirectory = 45
	exitConflict    = 46
)

func (c *Client) exitError(op string, status int, stderr string, privileged bool) error {
	cause := &ExitError{Status: status, Stderr: stderr}
	lower := strings.ToLower(stderr)
	switch {
	case c.sudo && privileged && containsAny(lower, "a password is required", "a terminal is required", "not in the sudoers", "may not run sudo", "not allowed to execute"):
		return c.fail(op, ErrPermission, cause,
			fmt.Sprintf("User %q cannot run sudo without a password on %s: allow it NOPASSWD in sudoers, or connect as root.", c.endpoint.User, c.endpoint.Host))
	case c.sudo && privileged && status == 127 && strings.Contains(lower, "sudo"):
		return c.fail(op, ErrPermission, cause, fmt.Sprintf("sudo is not installed on %s: install it or connect as root.", c.endpoint.Host))
	case strings.Contains(lower, "permission denied") || strings.Contains(lower, "operation not permitted") || strings.Contains(lower, "read-only file system"):
		hint := fmt.Sprintf("User %q lacks the rights for this on %s: connect as root, or set sudo = true with passwordless sudo.", c.endpoint.User, c.endpoint.Host)
		if c.sudo {
			hint = fmt.Sprintf("Even root cannot do this on %s (a read-only mount, or a container without the capability).", c.endpoint.Host)
		}
		return c.fail(op, ErrPermission, cause, hint)
	case status == exitNotFound || strings.Contains(lower, "no such file"):
		return c.fail(op, ErrNotFound, cause, "")
	case status == exitConflict:
		return c.fail(op, ErrConflict, cause, "Another process changed the file at the same time; run again.")
	case status == exitIsDirectory:
		return c.fail(op, ErrConfig, cause, "The path names a directory; name a file instead.")
	default:
		return c.fail(op, ErrCommand, cause, "")
	}
}

func (c *Client) fail(op string, class, err error, hint string) error {
	return &Error{Host: c.endpoint.String(), Op: op, Class: class, Err: err, Hint: hint}
}

// Script runs a POSIX sh script with positional arguments ($1, $2, ...);
// arguments are passed as separate, quoted words, never spliced into the
// script text.
func (c *Client) Script(ctx context.Context, op, script string, stdin []byte, args ...string) ([]byte, error) {
	return c.Run(ctx, Command{Argv: append([]string{"sh", "-c", script, "sh"}, args...), Stdin: stdin, Privileged: true, Op: op})
}

const readFileScript = `[ -e "$1" ] || { echo "$1: No such file" >&2; exit 44; }
[ ! -d "$1" ] || { echo "$1 is a directory" >&2; exit 45; }
exec cat -- "$1"`

// ReadFile returns a remote file's contents; a missing file is ErrNotFound.
func (c *Client) ReadFile(ctx context.Context, path string) ([]byte, error) {
	return c.Script(ctx, "read "+path, readFileScript, nil, path)
}

// writeFileScript replaces $1 atomically: a temp file in the same directory
// (mktemp: exclusive create, mode 0600), the new bytes from stdin, the old
// file's owner, group, mode and SELinux label (or mode $2 for a new file),
// fsync, rename over, fsync the directory. A symlink is followed, so the file
// it points to is replaced and the link kept. Unchanged content is left
// alone. With $3 = 1 the old content is kept as $1.conntrack-<time>.bak.
// With $4 set, the file must still hash to it ("absent": must not exist)
// just before the rename, or nothing changes (exit 46): someone else wrote
// it since it was read. The temp file is removed on every failure.
const writeFileScript = `set -eu
f=$(readlink -f -- "$1") || f=$1
d=$(dirname -- "$f")
[ -d "$d" ] || { echo "directory $d: No such file" >&2; exit 44; }
[ ! -d "$f" ] || { echo "$f is a directory" >&2; exit 45; }
t=$(mktemp "$d/.conntrack-tf.XXXXXX")
trap 'rm -f -- "$t"' EXIT
cat > "$t"
if [ -n "$4" ]; then
	if [ -e "$f" ]; then now=$(sha256sum < "$f"); now=${now%% *}; else now=absent; fi
	[ "$now" = "$4" ] || { echo "$f changed since it was read" >&2; exit 46; }
fi
if [ -e "$f" ]; then
	if cmp -s -- "$t" "$f"; then exit 0; fi
	chown --reference="$f" -- "$t"
	chmod --reference="$f" -- "$t"
	if command -v chcon >/dev/null 2>&1; then chcon --reference="$f" -- "$t" 2>/dev/null || true; fi
	if [ "$3" = 1 ]; then cp -p -- "$f" "$f.conntrack-$(date +%Y%m%dT%H%M%S).bak"; fi
else
	chmod "$2" -- "$t"
fi
sync -- "$t" 2>/dev/null || sync
mv -f -- "$t" "$f"
trap - EXIT
sync -- "$d" 2>/dev/null || true`

// WriteOptions shape WriteFileAtomic.
type WriteOptions struct {
	// Mode of a newly created file; an existing file keeps its own.
	Mode os.FileMode
	// Backup keeps the previous content beside the file when it changes.
	Backup bool
	// IfUnchanged, when set, is the content the change was computed from
	// (Absent for a file that did not exist): the write fails with
	// ErrConflict instead of overwriting someone else's edit made since.
	IfUnchanged *[]byte
}

// Absent is IfUnchanged for a file that did not exist when it was read.
var Absent = &[]byte{}

// ErrConflict: the file changed between read and write.
var ErrConflict = errors.New("file changed concurrently")

// WriteFileAtomic replaces path with data so that readers see either the old
// or the new file, never a mix, whatever fails.
func (c *Client) WriteFileAtomic(ctx context.Context, path string, data []byte, opts WriteOptions) error {
	mode := opts.Mode
	if mode == 0 {
		mode = 0o644
	}
	backup := "0"
	if opts.Backup {
		backup = "1"
	}
	expect := ""
	switch {
	case opts.IfUnchanged == Absent:
		expect = "absent"
	case opts.IfUnchanged != nil:
		expect = fmt.Sprintf("%x", sha256.Sum256(*opts.IfUnchanged))
	}
	_, err := c.Script(ctx, "write "+path, writeFileScript, data, path, fmt.Sprintf("%04o", mode.Perm()), backup, expect)
	return err
}

// Lock serialises this process's edits of one remote path; callers hold it
// across read-modify-write. It returns the unlock function.
func (c *Client) Lock(path string) func() {
	c.locksMu.Lock()
	m, ok := c.locks[path]
	if !ok {
		m = &sync.Mutex{}
		c.locks[path] = m
	}
	c.locksMu.Unlock()
	m.Lock()
	return m.Unlock
}

// lockedBuffer is a bytes.Buffer that the session's copier may still be
// writing while a timed-out Run reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

func (b *lockedBuffer) String() string { return string(b.Bytes()) }

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
