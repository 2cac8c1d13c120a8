package sshx_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/sshx"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// These tests drive real sshd servers in namespace test hosts (root needed).
func requireHosts(t *testing.T) {
	t.Helper()
	if os.Getenv("TF_ACC") == "" {
		t.Skip("host tests run with TF_ACC=1 (make test)")
	}
}

func pool(t *testing.T, opts sshx.Options) *sshx.Pool {
	t.Helper()
	p, err := sshx.NewPool(opts)
	if err != nil {
		t.Fatalf("NewPool: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// rootOptions reach the hosts as root. The connect budget is generous: make
// test runs these tests beside the kernel tier, whose emulated guests keep
// both cores busy, and a 5 s budget once ran out in a handshake there. Tests
// of connect_timeout itself set their own.
func rootOptions(t *testing.T, hosts ...*testhost.Host) sshx.Options {
	return sshx.Options{
		Credentials:    sshx.Credentials{PrivateKey: hosts[0].ClientKeyPEM},
		HostKeys:       sshx.HostKeys{KnownHostsFile: testhost.KnownHostsFile(t, hosts...)},
		ConnectTimeout: 30 * time.Second,
	}
}

func endpoint(h *testhost.Host) sshx.Endpoint { return sshx.Endpoint{Host: h.Addr} }

func mustGet(t *testing.T, p *sshx.Pool, e sshx.Endpoint) *sshx.Client {
	t.Helper()
	c, err := p.Get(t.Context(), e)
	if err != nil {
		t.Fatalf("connect %s: %v", e.Host, err)
	}
	return c
}

func TestPoolSharesOneConnectionPerHost(t *testing.T) {
	t.Parallel()
	requireHosts(t)
	h := testhost.New(t, testhost.Options{})
	p := pool(t, rootOptions(t, h))
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := p.Get(t.Context(), endpoint(h))
			if err == nil {
				_, err = c.Run(t.Context(), sshx.Command{Argv: []string{"true"}})
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := h.Logins(); n != 1 || p.Dials() != 1 {
		t.Fatalf("30 concurrent users made %d sshd logins and %d dials, want 1", n, p.Dials())
	}
}

func TestPoolRedialsABrokenConnection(t *testing.T) {
	t.Parallel()
	requireHosts(t)
	ctx := t.Context()
	h := testhost.New(t, testhost.Options{})
	p := pool(t, rootOptions(t, h))
	c := mustGet(t, p, endpoint(h))
	if err := h.DropConnections(); err != nil {
		t.Fatal(err)
	}
	// The first use after the host dropped the connection fails, as unreachable...
	var err error
	for i := 0; i < 50 && err == nil; i++ {
		_, err = c.Run(ctx, sshx.Command{Argv: []string{"true"}})
		time.Sleep(10 * time.Millisecond)
	}
	if !errors.Is(err, sshx.ErrUnreachable) {
		t.Fatalf("run on a dropped connection: %v", err)
	}
	// ...and the pool then connects again.
	c2 := mustGet(t, p, endpoint(h))
	if _, err := c2.Run(ctx, sshx.Command{Argv: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
	if n, _ := h.Logins(); n != 2 || p.Dials() != 2 {
		t.Fatalf("logins %d, dials %d; want 2", n, p.Dials())
	}
}

func TestRunQuotesArguments(t *testing.T) {
	t.Parallel()
	requireHosts(t)
	h := testhost.New(t, testhost.Options{})
	c := mustGet(t, pool(t, rootOptions(t, h)), endpoint(h))
	evil := `a b'c"$(touch /tmp/pwned)` + "`id`;\n*"
	out, err := c.Run(t.Context(), sshx.Command{Argv: []string{"printf", "%s", evil}})
	if err != nil || string(out) != evil {
		t.Fatalf("got %q, %v; want %q", out, err, evil)
	}
}

func TestWriteFileAtomicKeepsModeOwnerAndLinks(t *testing.T) {
	t.Parallel()
	requireHosts(t)
	ctx := t.Context()
	h := testhost.New(t, testhost.Options{})
	o := rootOptions(t, h)
	o.Backup = true // the provider's backup setting
	c := mustGet(t, pool(t, o), endpoint(h))

	// A new file gets the requested mode.
	if err := c.WriteFileAtomic(ctx, "/etc/ctt-new.conf", []byte("one\n"), sshx.WriteOptions{Mode: 0o640}); err != nil {
		t.Fatal(err)
	}
	if got := hostOut(t, h, "stat -c '%a %U' /etc/ctt-new.conf; cat /etc/ctt-new.conf"); got != "640 root\none" {
		t.Fatalf("new file: %q", got)
	}
	// An existing file keeps its owner, group and mode; the old bytes are backed up.
	hostOut(t, h, "printf 'old' > /etc/ctt-old.conf; chown nobody:nogroup /etc/ctt-old.conf; chmod 0604 /etc/ctt-old.conf")
	if err := c.WriteFileAtomic(ctx, "/etc/ctt-old.conf", []byte("new\n"), sshx.WriteOptions{Backup: true}); err != nil {
		t.Fatal(err)
	}
	if got := hostOut(t, h, "stat -c '%a %U %G' /etc/ctt-old.conf; cat /etc/ctt-old.conf; cat /etc/ctt-old.conf.conntrack-*.bak"); got != "604 nobody nogroup\nnew\nold" {
		t.Fatalf("existing file: %q", got)
	}
	// Without the provider's backup setting, a write that asks for a backup makes none.
	noBackup := mustGet(t, pool(t, rootOptions(t, h)), endpoint(h))
	if err := noBackup.WriteFileAtomic(ctx, "/etc/ctt-old.conf", []byte("newer\n"), sshx.WriteOptions{Backup: true}); err != nil {
		t.Fatal(err)
	}
	if got := hostOut(t, h, "cat /etc/ctt-old.conf; ls /etc/ctt-old.conf.conntrack-*.bak | wc -l"); got != "newer\n1" {
		t.Fatalf("backup off: %q", got)
	}
	// A symlink stays a symlink; its target is replaced.
	hostOut(t, h, "mkdir -p /etc/ctt.d && echo a > /etc/ctt.d/real.conf && ln -s ctt.d/real.conf /etc/ctt-link.conf")
	if err := c.WriteFileAtomic(ctx, "/etc/ctt-link.conf", []byte("b\n"), sshx.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := hostOut(t, h, "readlink /etc/ctt-link.conf; cat /etc/ctt.d/real.conf"); got != "ctt.d/real.conf\nb" {
		t.Fatalf("symlink: %q", got)
	}
	// Reading back, a missing file, a directory.
	if b, err := c.ReadFile(ctx, "/etc/ctt-old.conf"); err != nil || string(b) != "newer\n" {
		t.Fatalf("ReadFile: %q, %v", b, err)
	}
	if _, err := c.ReadFile(ctx, "/etc/ctt-missing"); !errors.Is(err, sshx.ErrNotFound) {
		t.Fatalf("missing file: %v", err)
	}
	if err := c.WriteFileAtomic(ctx, "/etc/ctt.d", []byte("x"), sshx.WriteOptions{}); !errors.Is(err, sshx.ErrConfig) {
		t.Fatalf("directory: %v", err)
	}
	if err := c.WriteFileAtomic(ctx, "/etc/no-such-dir/x.conf", []byte("x"), sshx.WriteOptions{}); !errors.Is(err, sshx.ErrNotFound) {
		t.Fatalf("missing directory: %v", err)
	}
	// No temp file is ever left behind.
	if got := hostOut(t, h, "find /etc -name '.conntrack-tf.*' | wc -l"); got != "0" {
		t.Fatalf("temp files left: %s", got)
	}
}

func TestHostKeyUnknownAndMismatchFailWithoutRetry(t *testing.T) {
	t.Parallel()
	requireHosts(t)
	h := testhost.New(t, testhost.Options{})
	other := testhost.New(t, testhost.Options{})
	fp := ssh.FingerprintSHA256(h.HostKey)

	unknown := rootOptions(t, other) // known_hosts lists only the other host
	_, err := pool(t, unknown).Get(t.Context(), endpoint(h))
	if !errors.Is(err, sshx.ErrHostKey) || !strings.Contains(err.Error(), fp) || !strings.Contains(err.Error(), h.Addr) {
		t.Fatalf("unknown host key: %v (want host %s and %s)", err, h.Addr, fp)
	}

	// known_hosts claims h's address has other's key: a mismatch.
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, []byte(h.Addr+" "+string(ssh.MarshalAuthorizedKey(other.HostKey))), 0o600); err != nil {
		t.Fatal(err)
	}
	mismatch := rootOptions(t, h)
	mismatch.HostKeys.KnownHostsFile = kh
	start := time.Now()
	_, err = pool(t, mismatch).Get(t.Context(), endpoint(h))
	if !errors.Is(err, sshx.ErrHostKey) || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("mismatch: %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("a host-key failure was retried for %s", time.Since(start))
	}
	// A pinned key or fingerprint works; a wrong pin does not.
	for pin, ok := range map[string]bool{
		string(ssh.MarshalAuthorizedKey(h.HostKey)): true,
		fp:                                   true,
		ssh.FingerprintSHA256(other.HostKey): false,
	} {
		o := rootOptions(t, h)
		o.HostKeys = sshx.HostKeys{Pinned: pin}
		_, err := pool(t, o).Get(t.Context(), endpoint(h))
		if ok != (err == nil) {
			t.Fatalf("pin %q: %v", pin, err)
		}
	}
	if n, _ := h.Logins(); n != 2 {
		t.Fatalf("logins = %d: only the two good pins may log in", n)
	}
}

func TestAuthFailuresAreClassifiedAndNotRetried(t *testing.T) {
	t.Parallel()
	requireHosts(t)
	h := testhost.New(t, testhost.Options{RootPassword: "s3cret-pw"})
	o := rootOptions(t, h)
	o.Credentials.PrivateKey = mustKey(t) // a key h does not know
	start := time.Now()
	_, err := pool(t, o).Get(t.Context(), endpoint(h))
	if !errors.Is(err, sshx.ErrAuth) {
		t.Fatalf("wrong key: %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("an auth failure was retried for %s", time.Since(start))
	}
	// Password authentication, right and wrong; the password never appears in errors.
	o.Credentials = sshx.Credentials{Password: "s3cret-pw"}
	mustGet(t, pool(t, o), endpoint(h))
	o.Credentials = sshx.Credentials{Password: "wrong-pw-xyz"}
	_, err = pool(t, o).Get(t.Context(), endpoint(h))
	if !errors.Is(err, sshx.ErrAuth) || strings.Contains(err.Error(), "wrong-pw-xyz") {
		t.Fatalf("wrong password: %v", err)
	}
}

func TestPrivateKeyParsing(t *testing.T) {
	t.Parallel()
	signer, err := ssh.ParsePrivateKey(mustKey(t))
	if err != nil {
		t.Fatal(err)
	}
	_ = signer
	raw, _ := ssh.ParseRawPrivateKey(mustKey(t))
	block, _ := ssh.MarshalPrivateKeyWithPassphrase(raw, "", []byte("right"))
	encrypted := pemEncode(block)
	cases := []struct {
		name       string
		key        []byte
		passphrase string
		want       string
	}{
		{"malformed", []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----\n"), "", "not a valid PEM or OpenSSH private key"},
		{"encrypted without passphrase", encrypted, "", "the private key is encrypted"},
		{"wrong passphrase", encrypted, "wrong", "the passphrase does not decrypt"},
		{"right passphrase", encrypted, "right", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sshx.NewPool(sshx.Options{
				Credentials: sshx.Credentials{PrivateKey: tc.key, Passphrase: []byte(tc.passphrase)},
				HostKeys:    sshx.HostKeys{InsecureIgnore: true},
			})
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, sshx.ErrConfig) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "not a key") || (tc.passphrase != "" && strings.Contains(err.Error(), tc.passphrase)) {
				t.Fatalf("error leaks input: %v", err)
			}
		})
	}
	_, err = sshx.NewPool(sshx.Options{Credentials: sshx.Credentials{Password: "x"}, HostKeys: sshx.HostKeys{KnownHostsFile: "/nonexistent/known_hosts"}})
	if !errors.Is(err, sshx.ErrHostKey) || !strings.Contains(err.Error(), "/nonexistent/known_hosts") {
		t.Fatalf("missing known_hosts: %v", err)
	}
}

func TestUnreachableHostFailsWithinConnectTimeout(t *testing.T) {
	t.Parallel()
	requireHosts(t)
	h := testhost.New(t, testhost.Options{})
	hostOut(t, h, "iptables -I INPUT -p tcp --dport 22 -j DROP")
	o := rootOptions(t, h)
	o.ConnectTimeout = 2 * time.Second
	start := time.Now()
	_, err := pool(t, o).Get(t.Context(), endpoint(h))
	took := time.Since(start)
	if !errors.Is(err, sshx.ErrUnreachable) || !strings.Contains(err.Error(), "connect_timeout 2s") {
		t.Fatalf("got %v", err)
	}
	if took < 2*time.Second || took > 3*time.Second {
		t.Fatalf("took %s, want about connect_timeout (2s)", took)
	}
}

func TestCommandTimeout(t *testing.T) {
	t.Parallel()
	requireHosts(t)
	h := testhost.New(t, testhost.Options{})
	o := rootOptions(t, h)
	o.CommandTimeout = 300 * time.Millisecond
	c := mustGet(t, pool(t, o), endpoint(h))
	_, err := c.Run(t.Context(), sshx.Command{Argv: []string{"sleep", "5"}})
	if !errors.Is(err, sshx.ErrTimeout) {
		t.Fatalf("got %v", err)
	}
	// The connection survives a timed-out command.
	if _, err := c.Run(t.Context(), sshx.Command{Argv: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
}

func TestBastion(t *testing.T) {
	t.Parallel()
	requireHosts(t)
	bastion := testhost.New(t, testhost.Options{})
	target := testhost.New(t, testhost.Options{})
	// The target accepts SSH only from the bastion: the machine cannot reach it directly.
	hostOut(t, target, "iptables -A INPUT -p tcp --dport 22 ! -s "+bastion.Addr+" -j REJECT --reject-with tcp-reset")
	o := rootOptions(t, target)
	o.ConnectTimeout = 2 * time.Second
	if _, err := pool(t, o).Get(t.Context(), endpoint(target)); !errors.Is(err, sshx.ErrUnreachable) {
		t.Fatalf("direct connection should fail: %v", err)
	}
	o.Bastion = &sshx.Bastion{
		Endpoint:    sshx.Endpoint{Host: bastion.Addr},
		Credentials: sshx.Credentials{PrivateKey: bastion.ClientKeyPEM},
		HostKeys:    sshx.HostKeys{KnownHostsFile: testhost.KnownHostsFile(t, bastion)},
	}
	c := mustGet(t, pool(t, o), endpoint(target))
	out, err := c.Run(t.Context(), sshx.Command{Argv: []string{"cat", "/etc/hostname"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != strings.TrimSpace(hostOut(t, target, "cat /etc/hostname")) {
		t.Fatalf("ran on the wrong host: %q", got)
	}
	if n, _ := target.Logins(); n != 1 {
		t.Fatalf("target logins %d", n)
	}
}

func TestAgentAuth(t *testing.T) {
	t.Parallel()
	requireHosts(t)
	h := testhost.New(t, testhost.Options{})
	raw, err := ssh.ParseRawPrivateKey(h.ClientKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: raw}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			// ServeAgent ends with an error when the client hangs up.
			go func() { _ = agent.ServeAgent(keyring, conn) }()
		}
	}()
	o := rootOptions(t, h)
	o.Credentials = sshx.Credentials{AgentSocket: sock}
	mustGet(t, pool(t, o), endpoint(h))
}

func TestSudo(t *testing.T) {
	t.Parallel()
	requireHosts(t)
	ctx := t.Context()
	h := testhost.New(t, testhost.Options{Users: []testhost.User{
		{Name: "ops", Sudo: true}, {Name: "asks", SudoWithPassword: true}, {Name: "plain"},
	}})
	o := rootOptions(t, h)
	o.Sudo = true
	p := pool(t, o)
	ops := mustGet(t, p, sshx.Endpoint{Host: h.Addr, User: "ops"})
	if err := ops.WriteFileAtomic(ctx, "/etc/ctt-sudo.conf", []byte("x\n"), sshx.WriteOptions{}); err != nil {
		t.Fatalf("passwordless sudo: %v", err)
	}
	if got := hostOut(t, h, "stat -c %U /etc/ctt-sudo.conf"); got != "root" {
		t.Fatalf("owner %q", got)
	}
	asks := mustGet(t, p, sshx.Endpoint{Host: h.Addr, User: "asks"})
	err := asks.WriteFileAtomic(ctx, "/etc/ctt-sudo.conf", []byte("y\n"), sshx.WriteOptions{})
	if !errors.Is(err, sshx.ErrPermission) || !strings.Contains(sshx.HintOf(err), "NOPASSWD") {
		t.Fatalf("sudo asking for a password: %v / %s", err, sshx.HintOf(err))
	}
	// Without sudo, a non-root user gets a permission error, and nothing is written.
	o.Sudo = false
	plain := mustGet(t, pool(t, o), sshx.Endpoint{Host: h.Addr, User: "plain"})
	err = plain.WriteFileAtomic(ctx, "/etc/ctt-sudo.conf", []byte("z\n"), sshx.WriteOptions{})
	if !errors.Is(err, sshx.ErrPermission) || !strings.Contains(sshx.HintOf(err), "sudo = true") {
		t.Fatalf("no sudo: %v / %s", err, sshx.HintOf(err))
	}
	if got := hostOut(t, h, "cat /etc/ctt-sudo.conf"); got != "x" {
		t.Fatalf("file changed by failed writes: %q", got)
	}
}

func hostOut(t *testing.T, h *testhost.Host, script string) string {
	t.Helper()
	out, err := h.Exec(t.Context(), script)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

func TestWriteFileAtomicRefusesToOverwriteAConcurrentEdit(t *testing.T) {
	t.Parallel()
	requireHosts(t)
	ctx := t.Context()
	h := testhost.New(t, testhost.Options{})
	c := mustGet(t, pool(t, rootOptions(t, h)), endpoint(h))
	hostOut(t, h, "printf 'v1\\n' > /etc/ctt-cas.conf")
	read, err := c.ReadFile(ctx, "/etc/ctt-cas.conf")
	if err != nil {
		t.Fatal(err)
	}
	hostOut(t, h, "printf 'someone else\\n' > /etc/ctt-cas.conf")
	err = c.WriteFileAtomic(ctx, "/etc/ctt-cas.conf", []byte("v2\n"), sshx.WriteOptions{IfUnchanged: &read})
	if !errors.Is(err, sshx.ErrConflict) {
		t.Fatalf("got %v, want ErrConflict", err)
	}
	if got := hostOut(t, h, "cat /etc/ctt-cas.conf"); got != "someone else" {
		t.Fatalf("the other edit was lost: %q", got)
	}
	now, _ := c.ReadFile(ctx, "/etc/ctt-cas.conf")
	if err := c.WriteFileAtomic(ctx, "/etc/ctt-cas.conf", []byte("v2\n"), sshx.WriteOptions{IfUnchanged: &now}); err != nil {
		t.Fatal(err)
	}
	// A file expected absent that now exists is a conflict too.
	if err := c.WriteFileAtomic(ctx, "/etc/ctt-cas.conf", []byte("v3\n"), sshx.WriteOptions{IfUnchanged: sshx.Absent}); !errors.Is(err, sshx.ErrConflict) {
		t.Fatalf("absent: %v", err)
	}
	if err := c.WriteFileAtomic(ctx, "/etc/ctt-cas-new.conf", []byte("n\n"), sshx.WriteOptions{IfUnchanged: sshx.Absent}); err != nil {
		t.Fatal(err)
	}
	if got := hostOut(t, h, "cat /etc/ctt-cas.conf; find /etc -name '.conntrack-tf.*' | wc -l"); got != "v2\n0" {
		t.Fatalf("got %q", got)
	}
}
