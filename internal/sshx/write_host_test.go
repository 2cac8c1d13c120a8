package sshx_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/sshx"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// Both write paths (SFTP, and the shell path of hosts without an SFTP
// server), as root and through sudo, against real sshd.
func TestWriteFileAtomicPaths(t *testing.T) {
	t.Parallel()
	requireHosts(t)
	ctx := t.Context()
	users := []testhost.User{{Name: "ops", Sudo: true}}
	withSFTP := testhost.New(t, testhost.Options{Users: users})
	noSFTP := testhost.New(t, testhost.Options{Users: users, NoSFTP: true})
	big := make([]byte, 3<<20+17) // several SFTP packets and channel windows, with NULs
	rand.Read(big)
	for _, tc := range []struct {
		host *testhost.Host
		user string
		sftp bool
	}{
		{withSFTP, "root", true},
		{withSFTP, "ops", true},
		{noSFTP, "root", false},
		{noSFTP, "ops", false},
	} {
		t.Run(fmt.Sprintf("sftp=%v/%s", tc.sftp, tc.user), func(t *testing.T) {
			h := tc.host
			o := rootOptions(t, h)
			o.Sudo = true
			c := mustGet(t, pool(t, o), sshx.Endpoint{Host: h.Addr, User: tc.user})
			if got, err := c.SFTP(ctx); err != nil || got != tc.sftp {
				t.Fatalf("SFTP() = %v, %v; want %v", got, err, tc.sftp)
			}
			f := "/etc/ctt-paths-" + tc.user + ".conf"
			hostOut(t, h, "printf 'old\\n' > "+f+"; chown nobody:nogroup "+f+"; chmod 0604 "+f)
			old := []byte("old\n")
			for _, content := range [][]byte{[]byte("new\n"), {}, big, []byte("last\n")} {
				if err := c.WriteFileAtomic(ctx, f, content, sshx.WriteOptions{IfUnchanged: &old}); err != nil {
					t.Fatalf("write %d bytes: %v", len(content), err)
				}
				got, err := c.ReadFile(ctx, f)
				if err != nil || !bytes.Equal(got, content) {
					t.Fatalf("read back %d bytes (%v), want %d", len(got), err, len(content))
				}
				old = content
			}
			if got := hostOut(t, h, "stat -c '%a %U %G' "+f); got != "604 nobody nogroup" {
				t.Fatalf("owner/mode not kept: %q", got)
			}
			// A new file, owned by root even through sudo.
			if err := c.WriteFileAtomic(ctx, f+".new", []byte("n\n"), sshx.WriteOptions{Mode: 0o640, IfUnchanged: sshx.Absent}); err != nil {
				t.Fatal(err)
			}
			if got := hostOut(t, h, "stat -c '%a %U' "+f+".new"); got != "640 root" {
				t.Fatalf("new file: %q", got)
			}
			// A failed compare-and-swap changes nothing and leaves no temp file.
			stale := []byte("stale\n")
			if err := c.WriteFileAtomic(ctx, f, []byte("lost\n"), sshx.WriteOptions{IfUnchanged: &stale}); !errors.Is(err, sshx.ErrConflict) {
				t.Fatalf("stale write: %v", err)
			}
			if got := hostOut(t, h, "cat "+f+"; find /etc -name '.conntrack-tf.*' | wc -l"); got != "last\n0" {
				t.Fatalf("after a conflict: %q", got)
			}
		})
	}
}

// Writes reuse one SFTP session per connection.
func TestWriteFileAtomicReusesOneSFTPSession(t *testing.T) {
	t.Parallel()
	requireHosts(t)
	ctx := t.Context()
	h := testhost.New(t, testhost.Options{})
	c := mustGet(t, pool(t, rootOptions(t, h)), endpoint(h))
	for i := 0; i < 5; i++ {
		if err := c.WriteFileAtomic(ctx, "/etc/ctt-reuse.conf", []byte(fmt.Sprint(i)), sshx.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// sshd runs internal-sftp inside the session process: count the
	// sessions that asked for the subsystem.
	out := hostOut(t, h, "grep -c \"Starting session: subsystem 'sftp'\" "+h.LogFile()+" || true")
	if out != "1" {
		t.Fatalf("sftp subsystem requested %s times for 5 writes, want 1:\n%s", out, hostOut(t, h, "cat "+h.LogFile()))
	}
}

// sftp_server names the program to run; a wrong one is a settings error.
func TestSFTPServerSetting(t *testing.T) {
	t.Parallel()
	requireHosts(t)
	ctx := t.Context()
	h := testhost.New(t, testhost.Options{})
	o := rootOptions(t, h)
	o.SFTPServer = "/usr/lib/openssh/sftp-server"
	c := mustGet(t, pool(t, o), endpoint(h))
	if ok, err := c.SFTP(ctx); !ok || err != nil {
		t.Fatalf("SFTP() = %v, %v", ok, err)
	}
	if err := c.WriteFileAtomic(ctx, "/etc/ctt-server.conf", []byte("x\n"), sshx.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	o.SFTPServer = "/nonexistent/sftp-server"
	c = mustGet(t, pool(t, o), endpoint(h))
	err := c.WriteFileAtomic(ctx, "/etc/ctt-server.conf", []byte("y\n"), sshx.WriteOptions{})
	if err == nil || sshx.SettingOf(err) != "sftp_server" || !strings.Contains(err.Error(), "/nonexistent/sftp-server") {
		t.Fatalf("wrong sftp_server: %v (setting %q)", err, sshx.SettingOf(err))
	}
}

// A write follows a symlink only as far as the directory the path was
// validated under (the path's top directory, /etc here): a link that
// resolves elsewhere is refused, naming where it leads, and nothing is
// written there; a link that stays inside is still followed and kept.
func TestWriteFileAtomicRefusesALinkOutOfItsDirectory(t *testing.T) {
	t.Parallel()
	requireHosts(t)
	ctx := t.Context()
	h := testhost.New(t, testhost.Options{})
	c := mustGet(t, pool(t, rootOptions(t, h)), endpoint(h))
	// /run/lock is private to the host (a tmpfs of its own).
	hostOut(t, h, "echo victim > /run/lock/ctt-victim && ln -s /run/lock/ctt-victim /etc/ctt-out.conf && ln -s ../run/lock/ctt-absent /etc/ctt-out-new.conf")
	for _, f := range []string{"/etc/ctt-out.conf", "/etc/ctt-out-new.conf"} {
		err := c.WriteFileAtomic(ctx, f, []byte("new\n"), sshx.WriteOptions{})
		if !errors.Is(err, sshx.ErrPermission) || !strings.Contains(err.Error(), "/run/lock/ctt-") || !strings.Contains(err.Error(), "outside /etc") {
			t.Fatalf("write through %s: %v", f, err)
		}
	}
	if got := hostOut(t, h, "cat /run/lock/ctt-victim; ls /run/lock/ctt-absent 2>&1 >/dev/null | wc -l; readlink /etc/ctt-out.conf; ls -a /run/lock | grep -c conntrack-tf || true"); got != "victim\n1\n/run/lock/ctt-victim\n0" {
		t.Fatalf("a write through a link out of /etc changed the host: %q", got)
	}
}
