package testhost

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// A leaf is a network namespace linked to one host only, as a machine on a
// LAN behind a router is: a veth pair from the host's namespace, the host
// as its default gateway. It runs no sshd; a test runs programs in it
// (Exec) to send traffic through the host, or to the host. Leaf links use
// 10.201.N.0/24 (N the leaf's number on its host): the addresses exist
// only inside the host's and the leaf's namespaces, so they are routed
// nowhere else and two hosts' leaves never meet. Forwarding between leaves
// needs net.ipv4.ip_forward=1 in the host's namespace, which the test sets
// (a per-namespace sysctl: the machine's own is untouched).

// Leaf is a namespace behind a host.
type Leaf struct {
	Namespace string
	// Addr is the leaf's address; Gateway is the host's address on the
	// leaf's link (the leaf's default route).
	Addr, Gateway string
}

// leafPrefix starts the namespace names of host idx's leaves.
func leafPrefix(idx int) string { return nsPrefix + strconv.Itoa(idx) + "-leaf" }

// AddLeaf links a new leaf to h. The host's side of the link is named
// leafN. Close removes the leaves with the host.
func (h *Host) AddLeaf(ctx context.Context) (*Leaf, error) {
	if h.SSHDPID == 0 || strings.HasPrefix(h.Addr, "127.") {
		return nil, fmt.Errorf("testhost: leaves need a namespace host")
	}
	n := 1
	for ; n < 250; n++ {
		if _, err := os.Stat(filepath.Join("/run/netns", leafPrefix(h.Index)+strconv.Itoa(n))); os.IsNotExist(err) {
			break
		}
	}
	l := &Leaf{Namespace: leafPrefix(h.Index) + strconv.Itoa(n),
		Addr: fmt.Sprintf("10.201.%d.2", n), Gateway: fmt.Sprintf("10.201.%d.1", n)}
	link := "leaf" + strconv.Itoa(n)
	steps := [][]string{
		{"netns", "add", l.Namespace},
		{"-n", h.Namespace, "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", l.Namespace},
		{"-n", h.Namespace, "addr", "add", l.Gateway + "/24", "dev", link},
		{"-n", h.Namespace, "link", "set", link, "up"},
		{"-n", l.Namespace, "addr", "add", l.Addr + "/24", "dev", "eth0"},
		{"-n", l.Namespace, "link", "set", "eth0", "up"},
		{"-n", l.Namespace, "link", "set", "lo", "up"},
		{"-n", l.Namespace, "route", "add", "default", "via", l.Gateway},
	}
	for _, s := range steps {
		if err := ip(ctx, s...); err != nil {
			_ = removeLeaf(ctx, l.Namespace)
			return nil, err
		}
	}
	return l, nil
}

// Exec runs a shell command in the leaf's network namespace and returns
// its combined output.
func (l *Leaf) Exec(ctx context.Context, script string) (string, error) {
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", l.Namespace, "sh", "-c", script).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("testhost leaf %s: %q: %w: %s", l.Namespace, script, err, out)
	}
	return string(out), nil
}

// removeLeaves removes every leaf of host idx (reap calls it).
func removeLeaves(ctx context.Context, idx int) {
	names, _ := filepath.Glob(filepath.Join("/run/netns", leafPrefix(idx)+"*"))
	for _, n := range names {
		_ = removeLeaf(ctx, filepath.Base(n))
	}
}

// removeLeaf kills what runs in the leaf (programs a test started there)
// and removes its namespace, which removes its link.
func removeLeaf(ctx context.Context, ns string) error {
	killAllIn(ctx, ns, 100)
	return ip(ctx, "netns", "del", ns)
}

// UDPEchoScript is a shell command that starts a UDP server on port in the
// background, answering each datagram with "re:" and the datagram for 300
// seconds at most, and prints the server's PID (kill it by that id). It
// runs in a host (Host.Exec) or a leaf (Leaf.Exec).
func UDPEchoScript(port int) string {
	return fmt.Sprintf(`perl -MIO::Socket::INET -e '
alarm 300;
my $s = IO::Socket::INET->new(LocalPort => %d, Proto => "udp") or die "bind: $!\n";
while (1) { my $peer = $s->recv(my $m, 512); $s->send("re:$m", 0, $peer) if defined $peer; }
' </dev/null >/dev/null 2>&1 &
echo $!`, port)
}

// UDPAskScript is a shell command that sends a datagram from localPort to
// addr:port every 200 ms, until an answer comes (it prints it) or for 10
// seconds (then it fails). The fixed local port makes the flow's
// conntrack entries easy to find: every datagram is the same flow.
func UDPAskScript(localPort int, addr string, port int) string {
	return fmt.Sprintf(`perl -MIO::Socket::INET -MIO::Select -e '
my $s = IO::Socket::INET->new(LocalPort => %d, PeerAddr => "%s", PeerPort => %d, Proto => "udp", ReuseAddr => 1) or die "socket: $!\n";
my $sel = IO::Select->new($s);
for (1 .. 50) {
	$s->send("ask");
	if ($sel->can_read(0.2)) { $s->recv(my $r, 512); if (length $r) { print $r; exit 0 } }
}
die "no answer from %s:%d\n";
'`, localPort, addr, port, addr, port)
}
