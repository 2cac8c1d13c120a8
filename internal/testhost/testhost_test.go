package testhost

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

func TestHostServesSSHWithPrivateEtc(t *testing.T) {
	t.Parallel()
	h := New(t, Options{Users: []User{{Name: "ctsudo", Sudo: true}}})
	kh := KnownHostsFile(t, h)
	ssh := func(user, cmd string) string {
		t.Helper()
		out, err := exec.Command("ssh", "-F", "none", "-i", h.ClientKeyFile(), "-o", "BatchMode=yes",
			"-o", "UserKnownHostsFile="+kh, "-o", "StrictHostKeyChecking=yes", "-l", user, h.Addr, cmd).CombinedOutput()
		if err != nil {
			t.Fatalf("ssh %s@%s %q: %v: %s", user, h.Addr, cmd, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := ssh("root", "echo private > /etc/ctt-private-marker && cat /etc/ctt-private-marker"); got != "private" {
		t.Fatalf("remote write: got %q", got)
	}
	if _, err := os.Stat("/etc/ctt-private-marker"); !os.IsNotExist(err) {
		t.Fatalf("the host's /etc leaked into the machine's /etc: %v", err)
	}
	if got := ssh("ctsudo", "sudo -n id -u"); got != "0" {
		t.Fatalf("sudo: got %q", got)
	}
	if got := ssh("root", "ip -4 -o addr show dev eth0"); !strings.Contains(got, h.Addr+"/16") {
		t.Fatalf("address: %q", got)
	}
	out, err := h.Exec(t.Context(), "echo 1 > /proc/sys/kernel/printk_ratelimit")
	if err == nil {
		t.Fatalf("/proc/sys outside net must be read-only, write succeeded: %s", out)
	}
	if _, err := h.Exec(t.Context(), "echo 100 > /proc/sys/net/netfilter/nf_conntrack_udp_timeout"); err != nil {
		t.Fatalf("/proc/sys/net must be writable: %v", err)
	}
	if n, err := h.Logins(); err != nil || n != 3 {
		t.Fatalf("logins = %d, %v; want 3 (one per ssh command)", n, err)
	}
}

func TestHostNetworkHostSharesInitialNamespace(t *testing.T) {
	t.Parallel()
	h := New(t, Options{HostNetwork: true})
	kh := KnownHostsFile(t, h)
	out, err := exec.Command("ssh", "-F", "none", "-i", h.ClientKeyFile(), "-o", "BatchMode=yes",
		"-o", "UserKnownHostsFile="+kh, "-o", "StrictHostKeyChecking=yes", "root@"+h.Addr,
		"stat -c %a /proc/sys/net/netfilter/nf_conntrack_max; readlink /proc/self/ns/net").CombinedOutput()
	if err != nil {
		t.Fatalf("ssh: %v: %s", err, out)
	}
	self, _ := os.Readlink("/proc/self/ns/net")
	if got := strings.Fields(string(out)); len(got) != 2 || got[0] != "644" || got[1] != self {
		t.Fatalf("got %q; want mode 644 and the machine's namespace %s", out, self)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if alive(h.SSHDPID) {
		t.Fatalf("sshd %d survived Close", h.SSHDPID)
	}
}

// A host with two leaves routes between them once ip_forward is on in its
// namespace, and only then: the machine's own setting is not involved.
func TestLeavesRouteThroughHost(t *testing.T) {
	t.Parallel()
	h := New(t, Options{})
	ctx := t.Context()
	a, err := h.AddLeaf(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.AddLeaf(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a.Namespace == b.Namespace || a.Addr == b.Addr {
		t.Fatalf("two leaves share %s %s", a.Namespace, a.Addr)
	}
	out, err := b.Exec(ctx, UDPEchoScript(7001))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := strconv.Atoi(strings.TrimSpace(out)); err != nil {
		t.Fatalf("echo server PID %q", out)
	}
	if _, err := h.Exec(ctx, "sysctl -qw net.ipv4.ip_forward=0"); err != nil {
		t.Fatal(err)
	}
	if out, err := a.Exec(ctx, strings.Replace(UDPAskScript(41001, b.Addr, 7001), "1 .. 50", "1 .. 5", 1)); err == nil {
		t.Fatalf("a reached b with forwarding off: %s", out)
	}
	if _, err := h.Exec(ctx, "sysctl -qw net.ipv4.ip_forward=1"); err != nil {
		t.Fatal(err)
	}
	if out, err := a.Exec(ctx, UDPAskScript(41002, b.Addr, 7001)); err != nil || out != "re:ask" {
		t.Fatalf("a to b through the host: %q %v", out, err)
	}
	// The host reaches its leaves itself.
	if out, err := h.Exec(ctx, UDPAskScript(41003, b.Addr, 7001)); err != nil || out != "re:ask" {
		t.Fatalf("host to b: %q %v", out, err)
	}
	ns := a.Namespace
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/run/netns/" + ns); !os.IsNotExist(err) {
		t.Errorf("leaf %s outlived its host: %v", ns, err)
	}
}
