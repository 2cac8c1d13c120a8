package sshx

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
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
	// backup allows the backups that writes ask for (provider `backup`).
	backup     bool
	sftpServer string
	lockOwner  string

	sftpMu      sync.Mutex
	sftp        *sftp.Client
	sftpSession *ssh.Session
	sftpNone    bool // the host has no SFTP server: writes use the shell path

	locksMu sync.Mutex
	locks   map[string]*sync.Mutex

	// broken is set when the connection is found dead; the pool then dials anew.
	broken atomic.Bool
}

// Keepalives keep idle connections (and NAT entries on the way) alive
// during long runs, and notice dead ones: a keepalive without a reply within
// the timeout (a half-open connection, a host that froze) marks the
// connection broken and closes it, so every command on it fails at once and
// the pool dials afresh.
const (
	defaultKeepAliveInterval = 30 * time.Second
	defaultKeepAliveTimeout  = 15 * time.Second
)

func newClient(e Endpoint, conn *ssh.Client, opts Options) *Client {
	c := &Client{
		endpoint: e,
		conn:     conn,
		sessions: make(chan struct{}, opts.MaxSessionsPerHost),
		sudo:     opts.Sudo && e.User != "root",
		timeout:  opts.CommandTimeout,
		trace:    opts.Trace,
		locks:    map[string]*sync.Mutex{},

		backup:     opts.Backup,
		sftpServer: opts.SFTPServer,
		lockOwner:  opts.LockOwner,
	}
	go c.keepAlive(opts.KeepAliveInterval, opts.KeepAliveTimeout)
	return c
}

func (c *Client) keepAlive(interval, timeout time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for range t.C {
		reply := make(chan error, 1)
		go func() {
			_, _, err := c.conn.SendRequest("keepalive@openssh.com", true, nil)
			reply <- err
		}()
		select {
		case err := <-reply:
			if err != nil {
				c.broken.Store(true)
				return
			}
		case <-time.After(timeout):
			c.broken.Store(true)
			c.conn.Close()
			return
		}
	}
}

// CommandTimeout is the longest one remote step may take (the provider's
// command_timeout).
func (c *Client) CommandTimeout() time.Duration { return c.timeout }

// Broken reports whether the connection was found dead.
func (c *Client) Broken() bool { return c.broken.Load() }

// Endpoint is who this client is logged in as, where.
func (c *Client) Endpoint() Endpoint { return c.endpoint }

// Close closes the connection.
func (c *Client) Close() error {
	c.closeSFTP()
	return c.conn.Close()
}

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
	release, err := c.acquire(ctx, op)
	if err != nil {
		return nil, err
	}
	defer release()
	session, err := c.conn.NewSession()
	if err != nil {
		c.broken.Store(true)
		return nil, c.fail(op, ErrUnreachable, fmt.Errorf("open session: %w", err), "")
	}
	defer session.Close()

	argv := cmd.Argv
	if cmd.Privileged {
		argv = c.privileged(argv)
	}
	// Output beyond maxOutput ends the command: a runaway read is an error,
	// not unbounded memory.
	overflow := func() { session.Close() }
	stdout, stderr := newLimitedBuffer(maxOutput, overflow), newLimitedBuffer(maxOutput, overflow)
	session.Stdout, session.Stderr = stdout, stderr
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
	case stdout.Overflowed() || stderr.Overflowed():
		return nil, c.fail(op, ErrCommand, fmt.Errorf("the command's output exceeds %d MiB", maxOutput>>20),
			"The path names something far larger than a configuration file (a device, or a runaway log); name the file itself.")
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
	// exitIncomplete: the new content did not arrive whole; nothing changed.
	exitIncomplete = 47
	// exitLockTimeout: the host lock was held by someone else for too long.
	exitLockTimeout = 48
	// exitNotOurs: the host lock (its directory or file) belongs to someone
	// else, or is not what the lock script makes; it is refused, not used.
	exitNotOurs = 49
	// exitOutside: a write's target resolves, its symlinks followed,
	// outside the directory it must stay in; nothing was written.
	exitOutside = 50
)

// maxOutput bounds what one remote command may print (stdout and stderr each).
var maxOutput = 16 << 20

// acquire takes one of the connection's session slots.
func (c *Client) acquire(ctx context.Context, op string) (func(), error) {
	select {
	case c.sessions <- struct{}{}:
		return func() { <-c.sessions }, nil
	case <-ctx.Done():
		return nil, c.fail(op, ErrTimeout, fmt.Errorf("waiting for a free SSH session: %w", ctx.Err()), "")
	}
}

// privileged decorates argv with `sudo -n --` when this client uses sudo.
func (c *Client) privileged(argv []string) []string {
	if !c.sudo {
		return argv
	}
	return append([]string{"sudo", "-n", "--"}, argv...)
}

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
	case status == exitIncomplete:
		return c.fail(op, ErrUnreachable, cause, "The new content did not arrive whole and nothing was changed; run again.")
	case status == exitOutside:
		return c.fail(op, ErrPermission, cause, "The file is a symbolic link that leads out of the directory its path was checked in; the provider does not write there. Point the link inside that directory, or name the real file.")
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

// maxLine bounds one line of our scripts' replies on stdout (a temp
// file's path, "locked"): a host that sends more without the delimiter
// (a login shell printing without end, a hostile host) is not read on.
const maxLine = 8 << 10

var errLineTooLong = fmt.Errorf("the host sent more than %d bytes without ending the line", maxLine)

// readLine reads up to and including delim, at most maxLine bytes.
func readLine(r *bufio.Reader, delim byte) (string, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice(delim)
		if len(line)+len(chunk) > maxLine {
			return "", errLineTooLong
		}
		line = append(line, chunk...)
		if !errors.Is(err, bufio.ErrBufferFull) {
			return string(line), err
		}
	}
}

// limitedBuffer is a bytes.Buffer that the session's copier may still be
// writing while a timed-out Run reads it, and that refuses to grow beyond
// max bytes: it then calls overflow once (which ends the session) and fails
// the write.
type limitedBuffer struct {
	mu       sync.Mutex
	buf      bytes.Buffer
	max      int
	overflow func()
	over     bool
}

func newLimitedBuffer(limit int, overflow func()) *limitedBuffer {
	return &limitedBuffer{max: limit, overflow: overflow}
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	if b.buf.Len()+len(p) > b.max {
		first := !b.over
		b.over = true
		b.mu.Unlock()
		if first && b.overflow != nil {
			b.overflow()
		}
		return 0, errOutputLimit
	}
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

var errOutputLimit = errors.New("output limit exceeded")

// Overflowed reports whether output was refused.
func (b *limitedBuffer) Overflowed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.over
}

func (b *limitedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

func (b *limitedBuffer) String() string { return string(b.Bytes()) }

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
