package sshx

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// writeFileScript replaces $1 atomically. It makes a temp file in the
// target's directory (mktemp: exclusive create, mode 0600, owned by whoever
// runs the script, so root under sudo), receives the new bytes into it, and
// renames it over the target only once they are all there:
//
//   - $5 = sftp: it prints the temp file's path (NUL-terminated) and waits for
//     a "go" line on stdin; the client writes the bytes over SFTP meanwhile.
//     If stdin closes without "go" (the client died, the connection was cut,
//     the context was cancelled) it removes the temp file and exits 47.
//   - $5 = stdin: the bytes arrive on stdin (hosts without an SFTP server).
//
// Either way the received length and sha256 must equal $6 and $7: a stream
// cut short is never renamed into place (exit 47). Then: with $4 set, the
// target must still hash to $4 ("absent": must not exist), or nothing
// changes (exit 46); unchanged content is left alone; the old file's owner,
// group, mode and SELinux label are copied (mode $2 for a new file); with
// $3 = 1 the old content is kept as $1.conntrack-<time>.bak and only the
// newest 3 backups are kept; fsync, rename, fsync the directory. A symlink is
// followed, so the file it points to is replaced and the link kept, but only
// inside the directory $9: a target that resolves outside it is refused
// (exit 50) and nothing is written. The temp
// file is removed on every failure. SIGPIPE and SIGHUP are ignored, so a
// client that goes away mid-swap cannot kill the script between its steps.
// A watchdog ends the wait for the bytes after $8 seconds (command_timeout):
// a half-open connection, which sshd may not notice for hours, cannot keep
// the temp file alive.
const writeFileScript = `set -eu
trap '' PIPE HUP
f=$(readlink -f -- "$1") || f=$1
case $f in "${9%/}"/*) ;; *) echo "$1 resolves to $f, outside $9: refused" >&2; exit 50 ;; esac
d=$(dirname -- "$f")
[ -d "$d" ] || { echo "directory $d: No such file" >&2; exit 44; }
[ ! -d "$f" ] || { echo "$f is a directory" >&2; exit 45; }
t=$(mktemp "$d/.conntrack-tf.XXXXXX")
c=
trap 'rm -f -- "$t"' EXIT
trap '[ -z "$c" ] || kill "$c" 2>/dev/null; echo "the new content did not arrive within $8 s; $f is unchanged" >&2; exit 47' TERM
(sleep "$8" & s=$!; trap 'kill "$s"; exit 0' TERM; wait "$s" && kill -TERM "$$") </dev/null >/dev/null 2>&1 &
w=$!
if [ "$5" = sftp ]; then
	printf '%s\000' "$t"
	IFS= read -r go || go=
	[ "$go" = go ] || { echo "the client went away before the new content was complete; $f is unchanged" >&2; exit 47; }
else
	exec 8<&0
	cat <&8 > "$t" &
	c=$!
	wait "$c"
	c=
fi
trap '' TERM
kill "$w" 2>/dev/null || true
n=$(wc -c < "$t"); n=$((n))
[ "$n" = "$6" ] || { echo "received $n of $6 bytes; $f is unchanged" >&2; exit 47; }
s=$(sha256sum < "$t"); s=${s%% *}
[ "$s" = "$7" ] || { echo "the new content arrived corrupted (sha256 $s, want $7); $f is unchanged" >&2; exit 47; }
if [ -n "$4" ]; then
	if [ -e "$f" ]; then now=$(sha256sum < "$f"); now=${now%% *}; else now=absent; fi
	[ "$now" = "$4" ] || { echo "$f changed since it was read" >&2; exit 46; }
fi
if [ -e "$f" ]; then
	if cmp -s -- "$t" "$f"; then exit 0; fi
	chown --reference="$f" -- "$t"
	chmod --reference="$f" -- "$t"
	if command -v chcon >/dev/null 2>&1; then chcon --reference="$f" -- "$t" 2>/dev/null || true; fi
	if [ "$3" = 1 ]; then
		cp -p -- "$f" "$f.conntrack-$(date +%Y%m%dT%H%M%S).bak"
		(set -- "$f".conntrack-*.bak; k=$(($# - 3)); while [ "$k" -gt 0 ]; do rm -f -- "$1"; shift; k=$((k - 1)); done)
	fi
else
	chmod "$2" -- "$t"
fi
sync -- "$t" 2>/dev/null || sync
mv -f -- "$t" "$f"
trap - EXIT
sync -- "$d" 2>/dev/null || true`

// TopDir is the first directory of an absolute path ("/etc" for
// "/etc/sysctl.d/x.conf"; "/" for a file in / or a relative path): where a
// write or a rollback follows the path's symlinks at most.
func TopDir(path string) string {
	rest, ok := strings.CutPrefix(path, "/")
	if !ok {
		return "/"
	}
	top, _, found := strings.Cut(rest, "/")
	if !found || top == "" {
		return "/"
	}
	return "/" + top
}

// BackupsKept is how many backups per file the write keeps when backups are on.
const BackupsKept = 3

// WriteOptions shape WriteFileAtomic.
type WriteOptions struct {
	// Mode of a newly created file; an existing file keeps its own.
	Mode os.FileMode
	// Backup keeps the previous content beside the file when it changes,
	// if the pool allows backups (Options.Backup, the provider's `backup`
	// setting); the newest BackupsKept per file are kept.
	Backup bool
	// Within is the directory the target must stay inside once its
	// symlinks are followed (the directory its path was validated under);
	// empty means the path's top directory (/etc for /etc/sysctl.d/x.conf,
	// so /etc/sysctl.d/99-sysctl.conf -> ../sysctl.conf is followed). A
	// target that resolves outside it is an ErrPermission, nothing written.
	Within string
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
// or the new file, never a mix, whatever fails: the bytes travel over SFTP
// (acknowledged, length-exact writes and fsync into a temp file beside the
// target), or on a host without an SFTP server over the command's stdin;
// either way one remote script verifies the received length and sha256,
// checks IfUnchanged and renames the temp file into place. A cut connection,
// a killed provider or a cancelled context leaves the old file and no temp
// file.
func (c *Client) WriteFileAtomic(ctx context.Context, path string, data []byte, opts WriteOptions) error {
	op := "write " + path
	if c.trace != nil {
		c.trace(ctx, c.endpoint, op)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	release, err := c.acquire(ctx, op)
	if err != nil {
		return err
	}
	defer release()
	sc, err := c.sftpClient(ctx)
	if err != nil {
		return err
	}

	mode := opts.Mode
	if mode == 0 {
		mode = 0o644
	}
	backup := "0"
	if opts.Backup && c.backup {
		backup = "1"
	}
	expect := ""
	switch {
	case opts.IfUnchanged == Absent:
		expect = "absent"
	case opts.IfUnchanged != nil:
		expect = fmt.Sprintf("%x", sha256.Sum256(*opts.IfUnchanged))
	}
	via := "stdin"
	if sc != nil {
		via = "sftp"
	}
	sum := sha256.Sum256(data)
	within := opts.Within
	if within == "" {
		within = TopDir(path)
	}
	argv := c.privileged([]string{"sh", "-c", writeFileScript, "sh", path, fmt.Sprintf("%04o", mode.Perm()), backup, expect,
		via, strconv.Itoa(len(data)), hex.EncodeToString(sum[:]), strconv.Itoa(int(math.Ceil(c.timeout.Seconds()))), within})

	session, err := c.conn.NewSession()
	if err != nil {
		c.broken.Store(true)
		return c.fail(op, ErrUnreachable, fmt.Errorf("open session: %w", err), "")
	}
	defer session.Close()
	stdin, err := session.StdinPipe()
	if err != nil {
		return c.fail(op, ErrUnreachable, err, "")
	}
	stdout, err := session.StdoutPipe()
	if err != nil {
		return c.fail(op, ErrUnreachable, err, "")
	}
	stderr := newLimitedBuffer(maxOutput, nil)
	session.Stderr = stderr
	if err := session.Start(Join(argv)); err != nil {
		return c.fail(op, ErrUnreachable, fmt.Errorf("start: %w", err), "")
	}

	type result struct{ upload, exit error }
	done := make(chan result, 1)
	go func() {
		var uerr error
		if sc == nil {
			_, uerr = stdin.Write(data)
		} else {
			uerr = c.upload(sc, bufio.NewReader(stdout), stdin, data)
		}
		// Closing stdin without "go" makes the script remove its temp file.
		stdin.Close()
		_, _ = io.Copy(io.Discard, stdout)
		done <- result{uerr, session.Wait()}
	}()

	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		// The script is never killed: with its stdin closed (and, on the
		// shell path, the rest of the bytes cut off) it removes the temp
		// file if the swap has not begun, or finishes the swap if it has. Either way the target is old or new. Give it a moment, so the
		// caller returns to a tidy host.
		if sc != nil {
			stdin.Close()
			c.dropSFTP(sc)
		} else {
			// Stop the bytes still on their way: closing the channel ends
			// the script's stdin short of the promised length.
			session.Close()
		}
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		return c.fail(op, ErrTimeout, errors.New("cancelled or timed out; the file is either unchanged or wholly replaced"),
			"Raise command_timeout if the host is slow.")
	}
	var exit *ssh.ExitError
	switch {
	case r.exit == nil:
		return nil
	case errors.As(r.exit, &exit):
		if r.upload != nil && exit.ExitStatus() == exitIncomplete {
			if sc != nil {
				c.dropSFTP(sc)
			}
			return c.uploadError(op, r.upload)
		}
		return c.exitError(op, exit.ExitStatus(), strings.TrimSpace(stderr.String()), true)
	default:
		return c.fail(op, ErrUnreachable, errors.New("the connection closed before the write finished; the file is either unchanged or wholly replaced"),
			"Run again: the next plan shows what the host holds.")
	}
}

// upload reads the temp file's name from the script, writes data into it
// over SFTP and, once every byte is acknowledged and synced, tells the
// script to go on.
func (c *Client) upload(sc *sftp.Client, script *bufio.Reader, stdin io.Writer, data []byte) error {
	name, ok := tempName(script)
	if !ok {
		// Nothing to upload: the script's exit status says why.
		return nil
	}
	f, err := sc.OpenFile(name, os.O_WRONLY|os.O_TRUNC)
	if err != nil {
		return fmt.Errorf("sftp open %s: %w", name, err)
	}
	n, err := f.Write(data)
	if err == nil && n != len(data) {
		err = fmt.Errorf("sftp wrote %d of %d bytes", n, len(data))
	}
	if err == nil {
		// fsync@openssh.com where the server offers it; the script syncs anyway.
		if serr := f.Sync(); serr != nil && !isUnsupported(serr) {
			err = serr
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sftp write %s: %w", name, err)
	}
	_, err = io.WriteString(stdin, "go\n")
	return err
}

// tempName reads the name of the temp file the script made; false when the
// script stopped (or the connection ended) before it made one.
func tempName(script *bufio.Reader) (string, bool) {
	name, err := readLine(script, 0)
	return strings.TrimSuffix(name, "\x00"), err == nil
}

func (c *Client) uploadError(op string, err error) error {
	var se *sftp.StatusError
	switch {
	case errors.Is(err, os.ErrPermission):
		return c.fail(op, ErrPermission, err, "")
	case errors.As(err, &se):
		return c.fail(op, ErrCommand, err, "")
	default:
		return c.fail(op, ErrUnreachable, err, "Run again: the file is unchanged.")
	}
}

func isUnsupported(err error) bool {
	var se *sftp.StatusError
	return errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxOpUnsupported
}
