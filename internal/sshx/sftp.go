package sshx

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// findSFTPServerScript execs the SFTP server given as $1, or else the one
// named by the host's `Subsystem sftp` line, or else the first of the usual
// Debian, RHEL and Arch locations; exit 44 when there is none (dropbear,
// BusyBox), which makes the writes use the shell path.
const findSFTPServerScript = `p=$1
if [ -z "$p" ]; then
	for x in $(sed -n 's/^[[:space:]]*[Ss]ubsystem[[:space:]][[:space:]]*sftp[[:space:]][[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/ssh/sshd_config 2>/dev/null) \
		/usr/lib/openssh/sftp-server /usr/libexec/openssh/sftp-server /usr/lib/ssh/sftp-server /usr/libexec/sftp-server; do
		if [ -f "$x" ] && [ -x "$x" ]; then p=$x; break; fi
	done
	[ -n "$p" ] || { echo "no sftp-server on this host" >&2; exit 44; }
fi
exec "$p"`

// sftpClient returns the connection's SFTP client, opening it on first use,
// or nil when the host has no SFTP server (writes then use the shell path).
// Through sudo the server runs as `sudo -n <sftp-server>` on an exec
// channel; otherwise it is the sshd's sftp subsystem.
func (c *Client) sftpClient(ctx context.Context) (*sftp.Client, error) {
	c.sftpMu.Lock()
	defer c.sftpMu.Unlock()
	if c.sftpNone {
		return nil, nil
	}
	if c.sftp != nil {
		return c.sftp, nil
	}
	sc, session, err := c.openSFTP(ctx)
	if errors.Is(err, errNoSFTP) {
		c.sftpNone = true
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c.sftp, c.sftpSession = sc, session
	return sc, nil
}

// SFTP reports whether writes to this host travel over SFTP (opening the
// SFTP session if not yet done); false means the shell path.
func (c *Client) SFTP(ctx context.Context) (bool, error) {
	sc, err := c.sftpClient(ctx)
	return sc != nil, err
}

// errNoSFTP is openSFTP's answer for a host without an SFTP server: not a
// failure, the writes use the shell path.
var errNoSFTP = errors.New("the host has no SFTP server")

func (c *Client) openSFTP(ctx context.Context) (*sftp.Client, *ssh.Session, error) {
	const op = "start sftp server"
	session, err := c.conn.NewSession()
	if err != nil {
		c.broken.Store(true)
		return nil, nil, c.fail(op, ErrUnreachable, err, "")
	}
	wr, err := session.StdinPipe()
	if err != nil {
		session.Close()
		return nil, nil, c.fail(op, ErrUnreachable, err, "")
	}
	rd, err := session.StdoutPipe()
	if err != nil {
		session.Close()
		return nil, nil, c.fail(op, ErrUnreachable, err, "")
	}
	stderr := newLimitedBuffer(maxOutput, nil)
	session.Stderr = stderr
	if c.sudo || c.sftpServer != "" {
		err = session.Start(Join(c.privileged([]string{"sh", "-c", findSFTPServerScript, "sh", c.sftpServer})))
	} else if err = session.RequestSubsystem("sftp"); err != nil {
		// sshd refuses a subsystem it has no Subsystem line for.
		session.Close()
		return nil, nil, errNoSFTP
	}
	if err != nil {
		session.Close()
		return nil, nil, c.fail(op, ErrUnreachable, err, "")
	}
	type opened struct {
		sc  *sftp.Client
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		sc, err := sftp.NewClientPipe(rd, wr)
		ch <- opened{sc, err}
	}()
	var o opened
	select {
	case o = <-ch:
	case <-ctx.Done():
		session.Close()
		return nil, nil, c.fail(op, ErrTimeout, ctx.Err(), "")
	}
	if o.err == nil {
		return o.sc, session, nil
	}
	// The server did not answer the handshake: say why it did not start.
	exited := make(chan error, 1)
	go func() { exited <- session.Wait() }()
	var werr error
	select {
	case werr = <-exited:
	case <-time.After(5 * time.Second):
	}
	session.Close()
	var exit *ssh.ExitError
	if !errors.As(werr, &exit) {
		return nil, nil, c.fail(op, ErrUnreachable, o.err, "")
	}
	if exit.ExitStatus() == exitNotFound && c.sftpServer == "" {
		return nil, nil, errNoSFTP
	}
	err = c.exitError(op, exit.ExitStatus(), strings.TrimSpace(stderr.String()), true)
	var e *Error
	if c.sftpServer != "" && errors.As(err, &e) && !errors.Is(err, ErrPermission) {
		e.Setting = "sftp_server"
		e.Hint = "Set sftp_server to the path of the host's sftp-server program, or leave it unset to find it."
	}
	return nil, nil, err
}

// dropSFTP closes sc if it is still the connection's SFTP client; the next
// write opens a fresh one.
func (c *Client) dropSFTP(sc *sftp.Client) {
	c.sftpMu.Lock()
	defer c.sftpMu.Unlock()
	if c.sftp == sc {
		c.sftp.Close()
		c.sftpSession.Close()
		c.sftp, c.sftpSession = nil, nil
	}
}

func (c *Client) closeSFTP() {
	c.sftpMu.Lock()
	defer c.sftpMu.Unlock()
	if c.sftp != nil {
		c.sftp.Close()
		c.sftpSession.Close()
		c.sftp, c.sftpSession = nil, nil
	}
}
