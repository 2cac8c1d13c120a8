package testhost

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// bootForTest boots a kernel host for the test and returns it with a way to
// run a command in it that fails the test on error.
func bootForTest(t *testing.T, opts KernelOptions) (*KernelHost, func(string) string) {
	t.Helper()
	if os.Getenv("TF_ACC") == "" {
		t.Skip("kernel host tests boot a qemu guest; set TF_ACC=1")
	}
	h := NewKernel(t, opts)
	return h, func(script string) string {
		t.Helper()
		out, err := h.Exec(t.Context(), script)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
}

// TestKernelHostLoadsAndUnloadsConntrack is the kernel tier's smoke test: what
// only a real modular kernel shows, checked over SSH.
func TestKernelHostLoadsAndUnloadsConntrack(t *testing.T) {
	t.Parallel()
	h, run := bootForTest(t, KernelOptions{})
	ctx := t.Context()
	loaded := func(module string) bool {
		t.Helper()
		return run("grep -c '^"+module+" ' /proc/modules || true") != "0"
	}

	// The key and known_hosts line work for the stock OpenSSH client too.
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, []byte(h.KnownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ssh", "-F", "none", "-i", h.ClientKeyFile(), "-o", "BatchMode=yes",
		"-o", "UserKnownHostsFile="+kh, "-o", "StrictHostKeyChecking=yes", "-o", "Port="+strconv.Itoa(h.Port),
		"root@"+h.Addr, "uname -r").CombinedOutput()
	if err != nil {
		t.Fatalf("ssh: %v: %s", err, out)
	}
	t.Logf("guest kernel %s", strings.TrimSpace(string(out)))

	run("test -r /proc/modules && lsmod >/dev/null")
	if loaded("nf_conntrack") {
		t.Fatal("nf_conntrack is loaded at boot; the guest should start without it")
	}
	run("modprobe nf_conntrack")
	if !loaded("nf_conntrack") {
		t.Fatal("modprobe nf_conntrack: not in /proc/modules")
	}

	// Global settings are writable in the initial namespace, unlike in a
	// namespace host.
	was := run("cat /proc/sys/net/netfilter/nf_conntrack_max")
	if got := run("echo 54321 > /proc/sys/net/netfilter/nf_conntrack_max && cat /proc/sys/net/netfilter/nf_conntrack_max"); got != "54321" {
		t.Fatalf("nf_conntrack_max after writing 54321 (was %s): %q", was, got)
	}

	// Nothing holds it yet, so it unloads.
	run("rmmod nf_conntrack")
	if loaded("nf_conntrack") {
		t.Fatal("rmmod nf_conntrack: still loaded")
	}

	// A NOTRACK rule loads xt_CT, which holds nf_conntrack.
	run("iptables -t raw -A PREROUTING -j CT --notrack")
	if !loaded("xt_CT") || !loaded("nf_conntrack") {
		t.Fatalf("after the NOTRACK rule:\n%s", run("lsmod"))
	}
	if out, err := h.Exec(ctx, "rmmod nf_conntrack"); err == nil || !strings.Contains(out, "in use") {
		t.Fatalf("rmmod nf_conntrack while xt_CT holds it: err %v, output %q; want 'in use'", err, out)
	}

	// One connection for Exec, one for the ssh client.
	if n, err := h.Logins(); err != nil || n != 2 {
		t.Fatalf("logins = %d, %v; want 2", n, err)
	}
}

// TestKernelHostSystemdReboot checks the systemd guest and Reboot: PID 1 is
// systemd, the disk outlives a reboot, and modules-load.d takes effect at boot.
func TestKernelHostSystemdReboot(t *testing.T) {
	t.Parallel()
	h, run := bootForTest(t, KernelOptions{Systemd: true})
	ctx := t.Context()
	if got := run("cat /proc/1/comm"); got != "systemd" {
		t.Fatalf("PID 1 is %q, want systemd", got)
	}
	if got := run("grep -c '^nf_conntrack ' /proc/modules || true"); got != "0" {
		t.Fatal("nf_conntrack is loaded at boot before anything asked for it")
	}
	run("echo nf_conntrack > /etc/modules-load.d/ctt-test.conf")
	start := time.Now()
	if err := h.Reboot(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("rebooted in %s", time.Since(start).Round(100*time.Millisecond))
	if got := run("cat /etc/modules-load.d/ctt-test.conf"); got != "nf_conntrack" {
		t.Fatalf("after reboot the file reads %q", got)
	}
	if got := run("grep -c '^nf_conntrack ' /proc/modules || true"); got != "1" {
		t.Fatalf("modules-load.d did not load nf_conntrack at boot:\n%s", run("systemctl status systemd-modules-load --no-pager; lsmod"))
	}
	// One connection per boot.
	if n, err := h.Logins(); err != nil || n != 2 {
		t.Fatalf("logins = %d, %v; want 2", n, err)
	}
}
