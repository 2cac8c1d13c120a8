package testhost

// Kernel hosts: the second, slow tier (DESIGN.md section 5, "Kernel host").
// A qemu guest of Debian 12 with the stock modular kernel, for what a
// namespace host cannot show: loading and unloading conntrack modules,
// nf_conntrack_max, buckets and hashsize. scripts/kernel-host/build.sh builds
// the image once; every guest boots a throwaway copy-on-write snapshot of it.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// DefaultKernelImageDir is where scripts/kernel-host/build.sh puts the image
// unless CONNTRACK_KERNEL_HOST_DIR says otherwise.
const DefaultKernelImageDir = "/var/cache/conntrack-kernel-host"

const buildScript = "scripts/kernel-host/build.sh"

// The Debian releases buildScript makes images of.
const (
	Bookworm = "bookworm" // Debian 12
	Trixie   = "trixie"   // Debian 13
)

// KernelOptions shape a kernel host. The zero value boots the cached image
// under software emulation.
type KernelOptions struct {
	// ImageDir holds rootfs.ext4, vmlinuz and initrd.img. Default:
	// $CONNTRACK_KERNEL_HOST_DIR, else DefaultKernelImageDir; Debian 13's
	// image is in its trixie subdirectory.
	ImageDir string
	// Release is the guest's Debian: "" or Bookworm (12), Trixie (13).
	Release string
	// MemoryMB is the guest's memory (default 1024).
	MemoryMB int
	// CPUs is the guest's CPU count (default 1: under TCG a second CPU
	// made boot slower here, 22.6 s against 18.8 s, and parallel guests
	// compete for the machine's cores anyway).
	CPUs int
	// BootTimeout bounds the wait for sshd (default 6 minutes: software
	// emulation on a busy machine is slow).
	BootTimeout time.Duration
	// Systemd boots the image's systemd (with udev, modules-load.d and
	// service units) instead of the tiny init that only starts sshd: slower
	// to boot, for tests of init systems and of what happens at boot.
	Systemd bool
}

// KernelHost is a running qemu guest, reachable by SSH on a forwarded
// loopback port. Its fields mirror Host's, so tests hand it to the provider
// the same way.
type KernelHost struct {
	Addr string // always 127.0.0.1
	Port int    // forwarded to the guest's port 22
	// HostKey is the guest sshd's public host key (fresh per guest).
	HostKey ssh.PublicKey
	// ClientKeyPEM is the key shared with the namespace hosts, authorized
	// for root.
	ClientKeyPEM []byte
	Dir          string // client key, console and qemu logs

	opts      KernelOptions
	hostPEM   []byte
	cmd       *exec.Cmd
	exited    chan struct{}
	exitErr   error
	signer    ssh.Signer
	mu        sync.Mutex
	client    *ssh.Client
	closeOnce sync.Once
}

// StartKernel boots a kernel host and waits until its sshd completes a
// handshake. Call Close to stop it. It fails, never skips, when the image or
// qemu is missing: the error names the script that fixes it.
func StartKernel(ctx context.Context, opts KernelOptions) (*KernelHost, error) {
	if opts.ImageDir == "" {
		opts.ImageDir = os.Getenv("CONNTRACK_KERNEL_HOST_DIR")
	}
	if opts.ImageDir == "" {
		opts.ImageDir = DefaultKernelImageDir
	}
	switch opts.Release {
	case "", Bookworm:
	case Trixie:
		opts.ImageDir = filepath.Join(opts.ImageDir, Trixie)
	default:
		return nil, fmt.Errorf("testhost: no kernel host image of Debian %q (%s builds %s and %s)", opts.Release, buildScript, Bookworm, Trixie)
	}
	if opts.MemoryMB == 0 {
		opts.MemoryMB = 1024
	}
	if opts.CPUs == 0 {
		opts.CPUs = 1
	}
	if opts.BootTimeout == 0 {
		opts.BootTimeout = 6 * time.Minute
	}
	if err := checkKernelImage(opts.ImageDir); err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		return nil, fmt.Errorf("testhost: qemu-system-x86_64 not found: run %s (as root; it installs qemu-system-x86)", buildScript)
	}

	dir, err := os.MkdirTemp("", "ctt-kernel-")
	if err != nil {
		return nil, err
	}
	h := &KernelHost{Addr: "127.0.0.1", Dir: dir, opts: opts}
	hostSigner, hostPEM, err := newKey()
	if err != nil {
		return nil, h.fail(err)
	}
	h.HostKey, h.hostPEM = hostSigner.PublicKey(), hostPEM
	h.signer, h.ClientKeyPEM, err = clientKey()
	if err != nil {
		return nil, h.fail(err)
	}
	if err := os.WriteFile(h.ClientKeyFile(), h.ClientKeyPEM, 0o600); err != nil {
		return nil, h.fail(err)
	}
	// The guest writes to its own overlay of the image, which outlives a
	// reboot and goes with Dir.
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw",
		"-b", filepath.Join(opts.ImageDir, "rootfs.ext4"), h.disk()).CombinedOutput(); err != nil {
		return nil, h.fail(fmt.Errorf("testhost: qemu-img create (run %s, it installs qemu-utils): %v: %s", buildScript, err, out))
	}
	if err := h.start(ctx); err != nil {
		return nil, h.fail(err)
	}
	return h, nil
}

// start boots the guest on a loopback port: the one it had before a reboot
// (so known_hosts and the tests' configurations stay valid), else a free one.
// A free port is picked here and bound by qemu a moment later, so another
// process can take it in between; qemu then exits at once and we retry.
func (h *KernelHost) start(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		if h.Port == 0 || attempt > 1 {
			var err error
			if h.Port, err = freePort(); err != nil {
				return err
			}
		}
		err := h.boot(ctx)
		if err == nil {
			return nil
		}
		if attempt >= 3 || !strings.Contains(h.qemuLog(), "Could not set up host forwarding rule") {
			return err
		}
		h.kill()
	}
}

// Reboot restarts the guest the way a machine reboots: its disk keeps what
// was written, the running kernel's state is gone. The guest keeps its host
// key and, unless another process took it meanwhile, its port.
func (h *KernelHost) Reboot(ctx context.Context) error {
	// sync first: the guest is stopped from outside, as by a power cut
	// right after a clean shutdown's last write.
	if _, err := h.Exec(ctx, "sync"); err != nil {
		return err
	}
	h.kill()
	return h.start(ctx)
}

func (h *KernelHost) disk() string { return filepath.Join(h.Dir, "disk.qcow2") }

// boot starts qemu and waits for a logged-in SSH connection.
func (h *KernelHost) boot(ctx context.Context) error {
	opts := h.opts
	init := "init=/sbin/ctt-init"
	if opts.Systemd {
		init = "init=/lib/systemd/systemd"
	}
	authorized := ssh.MarshalAuthorizedKey(h.signer.PublicKey())
	// Both keys ride on the kernel command line (about 700 of its 2048
	// bytes); the guest's init decodes them. The guest is throwaway, so a
	// private host key readable in /proc/cmdline harms nothing.
	b64 := base64.StdEncoding.EncodeToString
	cmdline := strings.Join([]string{
		"console=ttyS0", "root=/dev/vda", "rw", init,
		"net.ifnames=0", // the NIC keeps the kernel name eth0 (no renaming by the initramfs udev)
		"panic=-1",      // a dead init exits qemu (with -no-reboot) instead of hanging
		"fastboot",      // no fsck: the image is fresh and the disk a snapshot
		"loglevel=4",
		"ctt.hostkey=" + b64(h.hostPEM), "ctt.authkey=" + b64(authorized),
	}, " ")
	img := opts.ImageDir
	args := []string{
		// Software emulation: this machine's /dev/kvm cannot boot a stock
		// kernel (DESIGN.md section 5). Checked with qemu 7.2 and Debian's
		// 6.1 kernel: -cpu host aborts (KVM refuses MSR 0x10a), and with
		// qemu64, kvm64 or host minus arch-capabilities the guest prints
		// nothing after "Probing EDD" within 60 s.
		"-accel", "tcg",
		"-m", strconv.Itoa(opts.MemoryMB), "-smp", strconv.Itoa(opts.CPUs),
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		// append: a reboot's console follows the first boot's.
		"-chardev", "file,id=console,append=on,path=" + h.ConsoleLog(), "-serial", "chardev:console",
		"-kernel", filepath.Join(img, "vmlinuz"),
		"-initrd", filepath.Join(img, "initrd.img"),
		"-append", cmdline,
		"-drive", "file=" + h.disk() + ",format=qcow2,if=virtio",
		"-netdev", fmt.Sprintf("user,id=net0,hostfwd=tcp:127.0.0.1:%d-:22", h.Port),
		"-device", "virtio-net-pci,netdev=net0",
		"-device", "virtio-rng-pci", // entropy for sshd early in boot
	}
	h.cmd = exec.Command("qemu-system-x86_64", args...)
	// The guest dies with the test process, even when that is killed.
	h.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	qlog, err := os.Create(filepath.Join(h.Dir, "qemu.log"))
	if err != nil {
		return err
	}
	defer qlog.Close()
	h.cmd.Stdout, h.cmd.Stderr = qlog, qlog
	if err := h.cmd.Start(); err != nil {
		return fmt.Errorf("testhost: start qemu: %w", err)
	}
	h.exited = make(chan struct{})
	go func() { h.exitErr = h.cmd.Wait(); close(h.exited) }()

	// Only this boot's console counts: a reboot's log follows the last one's.
	var consoleStart int64
	if fi, err := os.Stat(h.ConsoleLog()); err == nil {
		consoleStart = fi.Size()
	}
	deadline := time.Now().Add(opts.BootTimeout)
	var listening time.Time
	for {
		// Wait for sshd's own "listening" line first: before it, slirp
		// accepts the connection and then drops it, which only adds noise.
		// After it, a handshake that keeps failing is a real error, not a
		// slow boot, so it gets 30 s rather than the whole boot timeout.
		if listening.IsZero() {
			if b, _ := os.ReadFile(h.ConsoleLog()); int64(len(b)) > consoleStart && bytes.Contains(b[consoleStart:], []byte("Server listening on")) {
				listening = time.Now()
			}
		}
		if !listening.IsZero() {
			err := h.connect()
			if err == nil {
				return nil
			}
			if time.Since(listening) > 30*time.Second {
				return fmt.Errorf("testhost: kernel host sshd on port %d: %w%s", h.Port, err, h.logs())
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testhost: kernel host did not start sshd within %s%s", opts.BootTimeout, h.logs())
		}
		select {
		case <-h.exited:
			return fmt.Errorf("testhost: qemu exited (%v)%s", h.exitErr, h.logs())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// connect dials the guest as root, checking the host key, and keeps the
// connection for Exec.
func (h *KernelHost) connect() error {
	conn, err := net.DialTimeout("tcp", h.Address(), 10*time.Second)
	if err != nil {
		return err
	}
	// slirp accepts for the guest, so a stuck guest shows as a handshake
	// that never ends, not as a refused connection: bound it.
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	sc, chans, reqs, err := ssh.NewClientConn(conn, h.Address(), &ssh.ClientConfig{
		User:            "root",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(h.signer)},
		HostKeyCallback: ssh.FixedHostKey(h.HostKey),
	})
	if err != nil {
		conn.Close()
		return err
	}
	_ = conn.SetDeadline(time.Time{})
	h.mu.Lock()
	h.client = ssh.NewClient(sc, chans, reqs)
	h.mu.Unlock()
	return nil
}

// Address is host:port for SSH.
func (h *KernelHost) Address() string { return net.JoinHostPort(h.Addr, strconv.Itoa(h.Port)) }

// KnownHostsLine is the guest's known_hosts entry; a port other than 22 is
// written "[addr]:port".
func (h *KernelHost) KnownHostsLine() string {
	return fmt.Sprintf("[%s]:%d %s", h.Addr, h.Port, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(h.HostKey))))
}

// ClientKeyFile is the path of ClientKeyPEM on disk (mode 0600).
func (h *KernelHost) ClientKeyFile() string { return filepath.Join(h.Dir, "client_key") }

// ConsoleLog is the guest's serial console: kernel messages, init and sshd's
// log (sshd runs with -e).
func (h *KernelHost) ConsoleLog() string { return filepath.Join(h.Dir, "console.log") }

// Logins counts successful SSH logins so far, including the one connection
// StartKernel opens for Exec.
func (h *KernelHost) Logins() (int, error) {
	b, err := os.ReadFile(h.ConsoleLog())
	if err != nil {
		return 0, err
	}
	return bytes.Count(b, []byte("Accepted ")), nil
}

// Exec runs a shell command in the guest as root, over the SSH connection
// StartKernel opened, and returns combined output.
func (h *KernelHost) Exec(ctx context.Context, script string) (string, error) {
	h.mu.Lock()
	c := h.client
	h.mu.Unlock()
	if c == nil {
		return "", errors.New("testhost: kernel host is closed")
	}
	s, err := c.NewSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	// CombinedOutput serializes the stdout and stderr copies; two copies
	// writing one bytes.Buffer at once lose output.
	type result struct {
		out []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := s.CombinedOutput(script)
		done <- result{out, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return string(r.out), fmt.Errorf("kernel host: %q: %w: %s", script, r.err, r.out)
		}
		return string(r.out), nil
	case <-ctx.Done():
		_ = s.Close()
		return "", ctx.Err()
	}
}

// Close stops the guest (its snapshot goes with it) and removes Dir. It is
// safe to call more than once.
func (h *KernelHost) Close() error {
	h.closeOnce.Do(func() {
		h.kill()
		_ = os.RemoveAll(h.Dir)
	})
	return nil
}

func (h *KernelHost) kill() {
	h.mu.Lock()
	if h.client != nil {
		_ = h.client.Close()
		h.client = nil
	}
	h.mu.Unlock()
	if h.cmd != nil && h.cmd.Process != nil {
		_ = h.cmd.Process.Kill()
		<-h.exited
	}
}

// fail tears down a half-started host and returns err.
func (h *KernelHost) fail(err error) error {
	_ = h.Close()
	return err
}

func (h *KernelHost) qemuLog() string {
	b, _ := os.ReadFile(filepath.Join(h.Dir, "qemu.log"))
	return string(b)
}

// logs is the tail of qemu's and the console's output, for error messages.
func (h *KernelHost) logs() string {
	console, _ := os.ReadFile(h.ConsoleLog())
	if len(console) > 3000 {
		console = console[len(console)-3000:]
	}
	return fmt.Sprintf("\nqemu: %s\nconsole (tail):\n%s", strings.TrimSpace(h.qemuLog()), console)
}

// checkKernelImage fails with the fix when the image is missing, or stale:
// built by another version of the build script than the one in this tree.
func checkKernelImage(dir string) error {
	for _, f := range []string{"rootfs.ext4", "vmlinuz", "initrd.img", "recipe.sha256"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return fmt.Errorf("testhost: no kernel host image in %s (%v): build it with %s (as root, a few minutes, once)", dir, err, buildScript)
		}
	}
	// The build script sits two levels above this source file; when the
	// tree is not at hand (a copied test binary), trust the stamp.
	_, self, _, _ := runtime.Caller(0)
	script, err := os.ReadFile(filepath.Join(filepath.Dir(self), "..", "..", buildScript))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("testhost: read %s: %w", buildScript, err)
	}
	sum := sha256.Sum256(script)
	stamp, _ := os.ReadFile(filepath.Join(dir, "recipe.sha256"))
	if strings.TrimSpace(string(stamp)) != hex.EncodeToString(sum[:]) {
		return fmt.Errorf("testhost: the kernel host image in %s is stale (%s changed since it was built): run %s", dir, buildScript, buildScript)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, fmt.Errorf("testhost: listener address %v is not TCP", l.Addr())
	}
	return addr.Port, nil
}

// NewKernel boots a kernel host for a test, once the test holds one of the
// machine's kernel guest slots, and stops it when the test ends, pass or
// fail. A missing image or qemu fails the test: the kernel tier is
// never silently skipped.
func NewKernel(t testing.TB, opts KernelOptions) *KernelHost {
	t.Helper()
	SkipUnlessAcc(t)
	waited := time.Now()
	release, err := acquireKernelSlot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	start := time.Now()
	h, err := StartKernel(t.Context(), opts)
	if err != nil {
		t.Fatalf("start kernel host: %v", err)
	}
	t.Logf("kernel host on %s booted in %s (after %s waiting for a guest slot)", h.Address(),
		time.Since(start).Round(100*time.Millisecond), start.Sub(waited).Round(100*time.Millisecond))
	t.Cleanup(func() { _ = h.Close() })
	return h
}
