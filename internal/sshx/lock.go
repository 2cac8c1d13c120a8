package sshx

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// LockFile is the host lock that every change to a host holds, whichever
// process or machine makes it. It lives in a directory of its own (LockDir)
// that only the user the lock script runs as (root, or the login user
// without sudo) may open: /run/lock is world-writable, and flock needs no
// write access, so a lock file there that other users can open is one any
// local user could hold (blocking every apply) or read (the runner's host
// and SSH user).
const (
	LockDir  = "/run/lock/terraform-provider-conntrack"
	LockFile = LockDir + "/lock"
)

// ErrLocked: the host lock was held by someone else for longer than the wait.
var ErrLocked = errors.New("host is locked by another run")

// lockScript takes an flock on $1 for as long as its stdin stays open, then
// exits, which releases it; the kernel releases it too if the script dies
// (kill -9, a dropped connection). It waits at most $2 seconds, and stops
// waiting as soon as its stdin closes (the client gave up). The holder
// writes who it is ($3, its pid, since when) into the lock file, which
// changes nothing about the lock itself, once the client acknowledged
// "locked" with "ok" (a waiter whose client gave up can still get the lock
// before its stdin closes: it then exits without a record), and says
// "recorded": the client holds the lock only then, so whoever waits next is
// told the right holder; a waiter that
// gives up prints that record and exits 48. The lock's directory must be
// ours (owned by the user the script runs as, a real directory, mode 0700)
// and so must the lock file (a regular file we own): anything else, made by
// another user to hold or forge the lock, is refused with its path and owner
// on stderr and exit 49, never used. $4, when set, is a script the holder runs before it
// reports the lock taken (with $2 as its $1); its failure, with "held by
// WHAT" on stderr, ends the attempt as a wait that gave up (exit 48).
const lockScript = `l=$1
d=${l%/*}
umask 077
notours() {
	echo "$1 is not ours: $(stat -c 'owner %U (uid %u), mode %a' -- "$1" 2>/dev/null || ls -ld -- "$1")" >&2
	exit 49
}
if [ ! -e "$d" ] && [ ! -L "$d" ]; then
	[ -d "${d%/*}" ] || (umask 022; mkdir -p -- "${d%/*}")
	mkdir -m 0700 -- "$d" 2>/dev/null
fi
if [ -L "$d" ] || [ ! -d "$d" ] || [ ! -O "$d" ]; then notours "$d"; fi
case $(ls -ld -- "$d") in drwx------[.\ ]*) ;; *) notours "$d" ;; esac
if [ -L "$l" ] || { [ -e "$l" ] && { [ ! -f "$l" ] || [ ! -O "$l" ]; }; }; then notours "$l"; fi
exec 9>>"$l" || exit 1
exec 8<&0
if ! flock -n 9; then
	flock -w "$2" 9 &
	p=$!
	(read -r _ <&8; kill "$p" 2>/dev/null) &
	k=$!
	wait "$p"
	r=$?
	kill "$k" 2>/dev/null
	wait "$k"
	[ "$r" = 0 ] || { echo "held by $(cat -- "$l" 2>/dev/null)" >&2; exit 48; }
fi
[ -z "$4" ] || sh -c "$4" sh "$2" || exit 48
echo locked
read -r a && [ "$a" = ok ] || exit 0
printf 'pid %s (%s) since %s\n' "$$" "$3" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$l"
echo recorded
read -r _
exit 0`

// LockHost takes the host lock (LockFile): an flock held by a remote process
// for as long as the caller holds it. It waits at most wait for another
// holder to let go and returns at once when ctx ends; a lock that cannot be
// had in time is an ErrLocked error naming the host, the lock file and the
// holder (pid, owner, since when). release lets go (closing the connection,
// or the death of either side, does too). The lock is an exec session of its
// own, outside MaxSessionsPerHost.
func (c *Client) LockHost(ctx context.Context, wait time.Duration) (release func() error, err error) {
	return c.LockHostWhen(ctx, wait, "")
}

// LockHostWhen is LockHost that, once it holds the lock, also waits for
// the host to be ready: ready is a script run on the host with the wait in
// seconds as $1, which exits 0 when the host is ready, or non-zero with
// "held by WHAT" on stderr when it gave up (an ErrLocked naming WHAT).
func (c *Client) LockHostWhen(ctx context.Context, wait time.Duration, ready string) (release func() error, err error) {
	op := "lock " + LockFile
	if c.trace != nil {
		c.trace(ctx, c.endpoint, op)
	}
	owner := c.lockOwner
	if owner == "" {
		host, _ := os.Hostname()
		owner = fmt.Sprintf("terraform-provider-conntrack pid %d on %s", os.Getpid(), host)
	}
	owner += " as " + c.endpoint.User
	secs := strconv.FormatFloat(max(wait, 0).Seconds(), 'f', 3, 64)
	session, err := c.conn.NewSession()
	if err != nil {
		c.broken.Store(true)
		return nil, c.fail(op, ErrUnreachable, fmt.Errorf("open session: %w", err), "")
	}
	stdin, err1 := session.StdinPipe()
	stdout, err2 := session.StdoutPipe()
	if err := errors.Join(err1, err2); err != nil {
		session.Close()
		return nil, c.fail(op, ErrUnreachable, err, "")
	}
	stderr := newLimitedBuffer(maxOutput, nil)
	session.Stderr = stderr
	if err := session.Start(Join(c.privileged([]string{"sh", "-c", lockScript, "sh", LockFile, secs, owner, ready}))); err != nil {
		session.Close()
		return nil, c.fail(op, ErrUnreachable, fmt.Errorf("start: %w", err), "")
	}
	exited := make(chan error, 1)
	locked, recorded := make(chan bool, 1), make(chan bool, 1)
	go func() {
		out := bufio.NewReader(stdout)
		line, _ := readLine(out, '\n')
		locked <- line == "locked\n"
		line, _ = readLine(out, '\n')
		recorded <- line == "recorded\n"
		_, _ = io.Copy(io.Discard, out)
		exited <- session.Wait()
	}()
	// The remote flock gives up after wait; this margin covers the round trip.
	timer := time.NewTimer(wait + c.timeout)
	defer timer.Stop()
	// giveUp ends the holder's session, which releases whatever it holds.
	giveUp := func(why error) error {
		stdin.Close()
		session.Close()
		return c.fail(op, ErrTimeout, why, "")
	}
	select {
	case ok := <-locked:
		if ok {
			if _, err := io.WriteString(stdin, "ok\n"); err != nil {
				session.Close()
				return nil, c.fail(op, ErrUnreachable, fmt.Errorf("acknowledge the lock: %w", err), "")
			}
			// Held once the holder has recorded itself; a holder that exited
			// instead no longer holds the lock.
			select {
			case ok := <-recorded:
				if !ok {
					session.Close()
					return nil, c.fail(op, ErrUnreachable, errors.New("the lock holder exited before it recorded itself"), "")
				}
			case <-ctx.Done():
				return nil, giveUp(fmt.Errorf("gave up waiting for the host lock: %w", ctx.Err()))
			case <-timer.C:
				return nil, giveUp(errors.New("the lock holder did not record itself in time"))
			}
			return func() error {
				stdin.Close()
				defer session.Close()
				select {
				case err := <-exited:
					if err != nil {
						// The holder was gone already (connection cut, killed):
						// the lock was released then.
						return c.fail("unlock "+LockFile, ErrUnreachable, err, "")
					}
					return nil
				case <-time.After(5 * time.Second):
					return c.fail("unlock "+LockFile, ErrTimeout, errors.New("the holder did not exit; closing the session releases the lock"), "")
				}
			}, nil
		}
	case <-ctx.Done():
		return nil, giveUp(fmt.Errorf("gave up waiting for the host lock: %w", ctx.Err()))
	case <-timer.C:
		return nil, giveUp(fmt.Errorf("no answer within %s", wait+c.timeout))
	}
	werr := <-exited
	session.Close()
	var exit *ssh.ExitError
	switch {
	case errors.As(werr, &exit) && exit.ExitStatus() == exitLockTimeout:
		holder := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(stderr.String()), "held by"))
		if holder == "" {
			holder = "an unknown holder"
		}
		return nil, c.fail(op, ErrLocked, fmt.Errorf("%s is held by %s, for longer than %s", LockFile, holder, wait),
			"Another Terraform run (or CI job) is changing this host; wait for it to finish and run again. If no run is active, the holder pid on the host shows what holds the lock.")
	case errors.As(werr, &exit) && exit.ExitStatus() == exitNotOurs:
		return nil, c.fail(op, ErrPermission, fmt.Errorf("refused the host lock: %s", strings.TrimSpace(stderr.String())),
			fmt.Sprintf("The host lock must be a directory %s of mode 0700 owned by the user the provider works as on the host (root, or the login user without sudo), holding a file of its own: another local user may have made it to block or spoof runs. Find out who made it, remove it, and run again.", LockDir))
	case errors.As(werr, &exit):
		return nil, c.exitError(op, exit.ExitStatus(), strings.TrimSpace(stderr.String()), true)
	default:
		return nil, c.fail(op, ErrUnreachable, errors.New("the connection closed while taking the host lock"), "")
	}
}
