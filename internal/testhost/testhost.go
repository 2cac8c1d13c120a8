// Package testhost starts namespace test hosts: each a network namespace on a
// private bridge (10.200.0.0/16, routed nowhere), a private /etc (overlayfs),
// /proc/sys read-only except /proc/sys/net, and a real OpenSSH server. They
// back the acceptance tests, the demo and the benchmark (DESIGN.md section 5).
//
// Everything here needs root on Linux with iproute2, util-linux and
// openssh-server installed (scripts/setup.sh installs them).
package testhost

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/sshx"
)

const (
	// BaseDir holds one directory and one lock file per host.
	BaseDir = "/run/conntrack-testhost"
	bridge  = "ctt-br0"
	// BridgeAddr is the address of the machine itself on the test network.
	BridgeAddr = "10.200.0.1"
	netPrefix  = 16
	maxIndex   = 65000
	nsPrefix   = "ctt-"
)

// User is an extra, non-root login account on a host.
type User struct {
	Name string
	// Sudo grants passwordless sudo (NOPASSWD: ALL).
	Sudo bool
	// SudoWithPassword grants sudo that asks for a password, which `sudo -n`
	// refuses: the trap the provider must report clearly.
	SudoWithPassword bool
}

// Options shape a host. The zero value is a plain host with root login by key.
type Options struct {
	Users []User
	// RootPassword, when set, becomes root's password (password auth is on).
	RootPassword string
	// NoConntrack hides /proc/sys/net/netfilter, as on a host whose
	// conntrack module is not loaded.
	NoConntrack bool
	// Detached hosts outlive the process that started them (the demo); the
	// stale-host reaper leaves them alone while their sshd runs.
	Detached bool
	// HostNetwork shares the machine's initial network namespace, where the
	// global conntrack settings (nf_conntrack_max, buckets, hashsize) are
	// writable: the host listens on its own loopback address. Its /etc is
	// still private, but iptables and sysctls are the machine's own, so a
	// test must restore what it changes.
	HostNetwork bool
	// NoSFTP makes a host without an SFTP server, as dropbear or BusyBox
	// hosts are: sshd has no Subsystem line and the sftp-server program is
	// hidden.
	NoSFTP bool
}

// Host is a running namespace test host.
type Host struct {
	Index     int
	Namespace string
	Addr      string
	Port      int
	// HostKey is the sshd's public host key (fresh per host).
	HostKey ssh.PublicKey
	// ClientKeyPEM is an OpenSSH private key authorized for root and every
	// User. All hosts of a process share it, so one provider block reaches
	// them all.
	ClientKeyPEM []byte
	Dir          string
	SSHDPID      int
}

// Start creates and starts a host. Call Close to remove it.
func Start(ctx context.Context, opts Options) (*Host, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("testhost: namespace test hosts need root (run the tests as root: make test)")
	}
	if err := prepare(ctx); err != nil {
		return nil, err
	}
	h, err := allocate(opts.HostNetwork)
	if err != nil {
		return nil, err
	}
	if err := h.start(ctx, opts); err != nil {
		_ = h.Close()
		return nil, err
	}
	return h, nil
}

// Address is host:port for SSH.
func (h *Host) Address() string { return net.JoinHostPort(h.Addr, strconv.Itoa(h.Port)) }

// KnownHostsLine is the host's known_hosts entry.
func (h *Host) KnownHostsLine() string {
	return fmt.Sprintf("%s %s", h.Addr, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(h.HostKey))))
}

// ClientKeyFile is the path of ClientKeyPEM on disk (mode 0600).
func (h *Host) ClientKeyFile() string { return filepath.Join(h.Dir, "client_key") }

// LogFile is the sshd log (LogLevel VERBOSE: logins, and every session
// with its kind, "Starting session: subsystem 'sftp'").
func (h *Host) LogFile() string { return filepath.Join(h.Dir, "sshd.log") }

// acceptedLogin is sshd's line for a successful login ("Accepted publickey
// for root from ..."); at LogLevel VERBOSE sshd also logs "Accepted key ...
// found at", which is not a login.
var acceptedLogin = regexp.MustCompile(`(?m)^Accepted \S+ for `)

// Logins counts successful SSH logins so far.
func (h *Host) Logins() (int, error) {
	b, err := os.ReadFile(h.LogFile())
	if err != nil {
		return 0, err
	}
	return len(acceptedLogin.FindAll(b, -1)), nil
}

// Exec runs a shell command inside the host (its network and mount
// namespaces, so its private /etc) and returns combined output.
func (h *Host) Exec(ctx context.Context, script string) (string, error) {
	out, err := exec.CommandContext(ctx, "nsenter", "-t", strconv.Itoa(h.SSHDPID), "-n", "-m", "--", "sh", "-c", script).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("testhost %s: %q: %w: %s", h.Namespace, script, err, out)
	}
	return string(out), nil
}

// DropConnections kills every process the host's sshd started, which cuts
// every open SSH connection, as a host reboot would.
func (h *Host) DropConnections() error {
	for _, pid := range descendants(h.SSHDPID) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return nil
}

// Close stops every process in the host and removes its namespace, link,
// files and lock. It is safe to call more than once.
func (h *Host) Close() error {
	return reap(h.Index)
}

// Remove removes host number idx, as Close does; for hosts started by
// another process (the demo's detached hosts).
func Remove(idx int) error { return reap(idx) }

func (h *Host) start(ctx context.Context, opts Options) error {
	for _, d := range []string{"upper", "work", "home"} {
		if err := os.MkdirAll(filepath.Join(h.Dir, d), 0o755); err != nil {
			return err
		}
	}
	hostSigner, hostPEM, err := newKey()
	if err != nil {
		return err
	}
	h.HostKey = hostSigner.PublicKey()
	clientSigner, clientPEM, err := clientKey()
	if err != nil {
		return err
	}
	h.ClientKeyPEM = clientPEM
	if err := os.WriteFile(h.ClientKeyFile(), clientPEM, 0o600); err != nil {
		return err
	}
	sshDir := filepath.Join(h.Dir, "upper", "ssh")
	authDir := filepath.Join(sshDir, "ctt_authorized_keys")
	if err := os.MkdirAll(authDir, 0o755); err != nil {
		return err
	}
	authorized := ssh.MarshalAuthorizedKey(clientSigner.PublicKey())
	users := append([]string{"root"}, userNames(opts.Users)...)
	for _, u := range users {
		if err := os.WriteFile(filepath.Join(authDir, u), authorized, 0o644); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(sshDir, "ctt_host_ed25519_key"), hostPEM, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(sshDir, "ctt_sshd_config"), []byte(sshdConfig(h.Addr, !opts.NoSFTP)), 0o644); err != nil {
		return err
	}

	// `ip netns exec` and `unshare -m` both give sshd a private mount
	// namespace for the overlay /etc.
	cmd := exec.Command("ip", "netns", "exec", h.Namespace, "sh", "-c", h.setupScript(opts))
	if opts.HostNetwork {
		cmd = exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", h.setupScript(opts))
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if !opts.Detached {
		// The host dies with the test process even when it is killed.
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	setupLog, err := os.Create(filepath.Join(h.Dir, "setup.log"))
	if err != nil {
		return err
	}
	defer setupLog.Close()
	cmd.Stdout, cmd.Stderr = setupLog, setupLog
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("testhost: start sshd: %w", err)
	}
	h.SSHDPID = cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if err := writeLock(h.Index, lockOwner(opts.Detached, h.SSHDPID), h.SSHDPID); err != nil {
		return err
	}
	return h.waitListening(ctx, exited)
}

// waitListening waits for sshd's own "listening" line rather than probing the
// port, so that no test connection ever shows in the login count.
func (h *Host) waitListening(ctx context.Context, exited <-chan error) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(h.LogFile()); bytes.Contains(b, []byte("Server listening on")) {
			return nil
		}
		select {
		case err := <-exited:
			setup, _ := os.ReadFile(filepath.Join(h.Dir, "setup.log"))
			log, _ := os.ReadFile(h.LogFile())
			return fmt.Errorf("testhost %s: sshd exited (%v): %s%s", h.Namespace, err, setup, log)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return fmt.Errorf("testhost %s: sshd did not start listening within 10s", h.Namespace)
}

// setupScript runs inside the new network namespace, in the private mount
// namespace that `ip netns exec` creates, and ends by becoming sshd.
func (h *Host) setupScript(opts Options) string {
	q := sshx.Quote
	home := filepath.Join(h.Dir, "home")
	var b strings.Builder
	fmt.Fprintf(&b, "set -e\n")
	fmt.Fprintf(&b, "mount -t overlay overlay -o lowerdir=/etc,upperdir=%s,workdir=%s /etc\n",
		filepath.Join(h.Dir, "upper"), filepath.Join(h.Dir, "work"))
	// /proc/sys read-only except /proc/sys/net, as in a container.
	b.WriteString("mount --bind /proc/sys /proc/sys\nmount --bind /proc/sys/net /proc/sys/net\nmount -o remount,bind,ro /proc/sys\n")
	if opts.NoConntrack {
		b.WriteString("mount -t tmpfs -o ro,size=4k none /proc/sys/net/netfilter\n")
	}
	b.WriteString("mkdir -p /run/sshd\n")
	if opts.NoSFTP {
		b.WriteString("mount -t tmpfs -o ro,size=4k none /usr/lib/openssh\n")
	}
	// A private /run/lock (/var/lock), where SysV init scripts keep the
	// lock file that says a service runs.
	b.WriteString("mount -t tmpfs -o size=1m none /run/lock\n")
	// root gets a private, empty home and /bin/sh, so the machine's own
	// shell start-up files never slow remote commands down.
	fmt.Fprintf(&b, "sed -i 's|^root:.*|root:x:0:0:root:%s:/bin/sh|' /etc/passwd\n", home)
	if opts.RootPassword != "" {
		fmt.Fprintf(&b, "echo %s | chpasswd\n", q("root:"+opts.RootPassword))
	}
	for _, u := range opts.Users {
		fmt.Fprintf(&b, "useradd -M -d %s -s /bin/sh %s\n", q(home), q(u.Name))
		// An unlocked account ("*" would refuse key logins with UsePAM no).
		fmt.Fprintf(&b, "echo %s | chpasswd\n", q(u.Name+":ctt-"+u.Name+"-pw"))
		switch {
		case u.Sudo:
			fmt.Fprintf(&b, "echo %s > /etc/sudoers.d/ctt-%s\n", q(u.Name+" ALL=(ALL) NOPASSWD: ALL"), u.Name)
		case u.SudoWithPassword:
			fmt.Fprintf(&b, "echo %s > /etc/sudoers.d/ctt-%s\n", q(u.Name+" ALL=(ALL) ALL"), u.Name)
		}
	}
	b.WriteString("chmod 0440 /etc/sudoers.d/ctt-* 2>/dev/null || true\n")
	fmt.Fprintf(&b, "exec /usr/sbin/sshd -D -f /etc/ssh/ctt_sshd_config -E %s\n", q(h.LogFile()))
	return b.String()
}

func sshdConfig(addr string, sftp bool) string {
	subsystem := "Subsystem sftp internal-sftp\n"
	if !sftp {
		subsystem = ""
	}
	return fmt.Sprintf(`# conntrack test host
Port 22
ListenAddress %s
HostKey /etc/ssh/ctt_host_ed25519_key
PidFile none
UsePAM no
PermitRootLogin yes
PubkeyAuthentication yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
AuthorizedKeysFile /etc/ssh/ctt_authorized_keys/%%u
StrictModes no
UseDNS no
PrintMotd no
LogLevel VERBOSE
MaxSessions 64
MaxStartups 200:30:400
AllowTcpForwarding yes
%s`, addr, subsystem)
}

func userNames(users []User) []string {
	names := make([]string, len(users))
	for i, u := range users {
		names[i] = u.Name
	}
	return names
}

var client struct {
	sync.Once
	signer ssh.Signer
	pem    []byte
	err    error
}

func clientKey() (ssh.Signer, []byte, error) {
	client.Do(func() { client.signer, client.pem, client.err = newKey() })
	return client.signer, client.pem, client.err
}

func newKey() (ssh.Signer, []byte, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, nil, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, nil, err
	}
	return signer, pem.EncodeToMemory(block), nil
}
