package provider

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// udpFlood is a shell command that starts, in the background, a UDP
// service bound to addr:port that never answers, and sends it n datagrams,
// each from a new socket kept open (a new source port, so a new conntrack
// entry).
// It prints the service's PID. perl-base is on every Debian host.
func udpFlood(addr string, port, n int) string {
	return fmt.Sprintf(`perl -MIO::Socket::INET -e '
my $s = IO::Socket::INET->new(LocalAddr => "%[1]s", LocalPort => %[2]d, Proto => "udp") or die "bind: $!";
my @c; for (1 .. %[3]d) { my $c = IO::Socket::INET->new(PeerAddr => "%[1]s", PeerPort => %[2]d, Proto => "udp") or die "socket: $!"; $c->send("x"); push @c, $c; }
open(my $r, ">", "/tmp/ctdiag-flood-%[2]d.done"); close($r); sleep 3600' </dev/null >/dev/null 2>&1 &
echo $!`, addr, port, n)
}

// waitFlood waits (up to 60 s) for the flood started by udpFlood to be sent.
func waitFlood(port int) string {
	return fmt.Sprintf("for i in $(seq 600); do [ -e /tmp/ctdiag-flood-%[1]d.done ] && break; sleep 0.1; done; rm -f /tmp/ctdiag-flood-%[1]d.done", port)
}

func hostSummaryConfig(t *testing.T, h *testhost.Host, top string) string {
	return providerBlock(t, []*testhost.Host{h}, "") + fmt.Sprintf(`
data "conntrack_host" "h" {
  host = %q
  %s
}`, h.Addr, top)
}

// What fills the table, on a namespace host (conntrack entries are per
// network namespace) with real traffic: 600 datagrams from 600 source
// ports to a local UDP service name it, and only it.
func TestAccHostDataSource_tableSummaryNamesTheFlood(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	const port, n = 5300, 600
	// A stateful rule makes the namespace track; unanswered UDP entries
	// live 30 s by default, longer than this test needs them.
	hostValue(t, h, "iptables -A INPUT -m conntrack --ctstate INVALID -j DROP && sysctl -qw net.netfilter.nf_conntrack_udp_timeout=600")
	// And two small services, so that there are more groups than top.
	for p, count := range map[int]int{port: n, port + 1: 20, port + 2: 10} {
		pid := hostValue(t, h, udpFlood(h.Addr, p, count))
		t.Cleanup(func() { _, _ = h.Exec(t.Context(), "kill "+pid) })
		hostValue(t, h, waitFlood(p))
	}
	if c := hostInt(t, h, "cat /proc/sys/net/netfilter/nf_conntrack_count"); c < n+30 {
		t.Fatalf("the host tracks %d entries after %d datagrams", c, n)
	}
	addr := "data.conntrack_host.h"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      hostSummaryConfig(t, h, fmt.Sprintf("top = %d", conntrack.TopMax+1)),
				ExpectError: errorLike("top", "between 0 and 100"),
			},
			{
				Config: hostSummaryConfig(t, h, "top = 3"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(addr, summaryPath("source"), knownvalue.StringExact("/proc/net/nf_conntrack")),
					statecheck.ExpectKnownValue(addr, summaryPath("truncated"), knownvalue.Bool(false)),
					statecheck.ExpectKnownValue(addr, summaryPath("top"), knownvalue.ListSizeExact(3)),
					statecheck.ExpectKnownValue(addr, summaryPath("top", 0), knownvalue.ObjectPartial(map[string]knownvalue.Check{
						"protocol": knownvalue.StringExact("udp"), "state": knownvalue.StringExact("UNREPLIED"),
						"port": knownvalue.Int64Exact(port), "entries": knownvalue.Int64Func(atLeast(n)),
					})),
					statecheck.ExpectKnownValue(addr, summaryPath("top", 1), knownvalue.ObjectExact(map[string]knownvalue.Check{
						"protocol": knownvalue.StringExact("udp"), "state": knownvalue.StringExact("UNREPLIED"),
						"port": knownvalue.Int64Exact(port + 1), "entries": knownvalue.Int64Exact(20), "percent": knownvalue.NotNull(),
					})),
					// The flood is named; sshd's port 22 listens too, but its
					// few entries do not dominate.
					statecheck.ExpectKnownValue(addr, summaryPath("notrack_candidates"), knownvalue.ListExact([]knownvalue.Check{
						knownvalue.ObjectPartial(map[string]knownvalue.Check{
							"protocol": knownvalue.StringExact("udp"), "port": knownvalue.Int64Exact(port), "entries": knownvalue.Int64Func(atLeast(n)),
						}),
					})),
					statecheck.ExpectKnownValue(addr, summaryPath("entries_scanned"), knownvalue.Int64Func(atLeast(n))),
				},
			},
			{
				// Off by default: no summary, no extra command.
				Config: hostSummaryConfig(t, h, ""),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("table_summary"), knownvalue.Null()),
				},
			},
		},
	})
}

func atLeast(n int64) func(int64) error {
	return func(v int64) error {
		if v < n {
			return fmt.Errorf("%d, want at least %d", v, n)
		}
		return nil
	}
}

// Which firewall stack: the iptables variant the host's iptables resolves
// to, its iptables-nft tables apart from a native one, firewalld's backend.
func TestAccHostDataSource_firewallStack(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	variant := string(conntrack.IptablesLegacy)
	if strings.Contains(hostValue(t, h, `readlink -f "$(command -v iptables)"`), "nft") {
		variant = string(conntrack.IptablesNft)
	}
	hostValue(t, h, "iptables -A INPUT -m conntrack --ctstate INVALID -j DROP && nft add table inet ctdiag && "+
		"mkdir -p /etc/firewalld && printf '# test\\nFirewallBackend=iptables\\n' > /etc/firewalld/firewalld.conf")
	native := []knownvalue.Check{knownvalue.StringExact("inet ctdiag")}
	own := []knownvalue.Check{knownvalue.StringExact("ip filter")}
	if variant == string(conntrack.IptablesLegacy) {
		own = []knownvalue.Check{}
	}
	fw := func(attr string) tfjsonpath.Path { return tfjsonpath.New("firewall").AtMapKey(attr) }
	addr := "data.conntrack_host.h"
	svc := knownvalue.ObjectExact(map[string]knownvalue.Check{
		"installed": knownvalue.NotNull(), "enabled": knownvalue.NotNull(), "running": knownvalue.NotNull(),
	})
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: hostDataSourceConfig(t, h),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(addr, fw("iptables"), knownvalue.StringExact(variant)),
					statecheck.ExpectKnownValue(addr, fw("nftables_tables"), knownvalue.ListExact(native)),
					statecheck.ExpectKnownValue(addr, fw("iptables_nft_tables"), knownvalue.ListExact(own)),
					statecheck.ExpectKnownValue(addr, fw("firewalld_backend"), knownvalue.StringExact("iptables")),
					statecheck.ExpectKnownValue(addr, fw("services"), knownvalue.MapExact(map[string]knownvalue.Check{
						"iptables": svc, "ip6tables": svc, "firewalld": svc, "nftables": svc,
					})),
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("table_summary"), knownvalue.Null()),
				},
			},
			{
				// No firewalld.conf: no backend; the file without the key: the default.
				PreConfig: func() { hostValue(t, h, "rm /etc/firewalld/firewalld.conf && nft delete table inet ctdiag") },
				Config:    hostDataSourceConfig(t, h),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(addr, fw("firewalld_backend"), knownvalue.Null()),
					statecheck.ExpectKnownValue(addr, fw("nftables_tables"), knownvalue.ListExact([]knownvalue.Check{})),
				},
			},
			{
				PreConfig: func() { hostValue(t, h, "echo DefaultZone=public > /etc/firewalld/firewalld.conf") },
				Config:    hostDataSourceConfig(t, h),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(addr, fw("firewalld_backend"), knownvalue.StringExact(conntrack.FirewalldDefaultBackend)),
				},
			},
		},
	})
}

// summaryPath is the path to table_summary and below it: a string steps
// into an attribute, an int into a list element.
func summaryPath(steps ...any) tfjsonpath.Path {
	p := tfjsonpath.New("table_summary")
	for _, s := range steps {
		switch s := s.(type) {
		case string:
			p = p.AtMapKey(s)
		case int:
			p = p.AtSliceIndex(s)
		}
	}
	return p
}
