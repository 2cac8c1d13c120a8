package provider

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// What fills the table, on a real kernel: a small nf_conntrack_max, a UDP
// service flooded until the kernel logs "table full", and the diagnosis
// names its port; then the cost of the read with a large table (measured,
// logged, and documented in the data source's page).
func TestAccHostDataSource_kernelTableSummary(t *testing.T) {
	t.Parallel()
	h, run, kh := kernelHost(t, testhost.KernelOptions{})
	const port, n, small = 5300, 800, 400
	run(fmt.Sprintf("modprobe nf_conntrack && iptables -A INPUT -m conntrack --ctstate INVALID -j DROP && "+
		"sysctl -qw net.netfilter.nf_conntrack_max=%d net.netfilter.nf_conntrack_udp_timeout=900 && dmesg -C", small))
	pid := run(udpFlood("127.0.0.1", port, n))
	t.Cleanup(func() { _, _ = h.Exec(t.Context(), "kill "+pid) })
	run(waitFlood(port))
	if full := run("dmesg | grep -c 'nf_conntrack: table full, dropping packet' || true"); full == "0" {
		t.Fatalf("%d datagrams did not fill a table of %d: dmesg has no 'table full'", n, small)
	}
	// Room for the provider's own login (a full table drops it too).
	count, _ := strconv.Atoi(run("cat /proc/sys/net/netfilter/nf_conntrack_count"))
	run(fmt.Sprintf("sysctl -qw net.netfilter.nf_conntrack_max=%d", count+200))

	config := func(top int) string {
		return fmt.Sprintf(`
provider "conntrack" {
  private_key_file = %q
  known_hosts_file = %q
  connect_timeout  = "60s"
}
data "conntrack_host" "h" {
  host = %q
  port = %d
  top  = %d
}`, h.ClientKeyFile(), kh, h.Addr, h.Port, top)
	}
	addr := "data.conntrack_host.h"
	// The large table: one socket sending to 4 loopback addresses x
	// 6000 ports, each datagram a new unreplied entry. Enough to outlast the
	// read's budget under emulation (~470 entries/s); the documented 230k
	// measurement used 60000 ports (6 minutes to create, too long for make test).
	const ports = 6000
	const large = 4 * ports
	var measured string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: config(5),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(addr, summaryPath("top", 0), knownvalue.ObjectPartial(map[string]knownvalue.Check{
						"protocol": knownvalue.StringExact("udp"), "state": knownvalue.StringExact("UNREPLIED"), "port": knownvalue.Int64Exact(port),
					})),
					statecheck.ExpectKnownValue(addr, summaryPath("notrack_candidates", 0), knownvalue.ObjectPartial(map[string]knownvalue.Check{
						"protocol": knownvalue.StringExact("udp"), "port": knownvalue.Int64Exact(port), "entries": knownvalue.Int64Func(atLeast(small / 2)),
					})),
					statecheck.ExpectKnownValue(addr, summaryPath("notrack_candidates"), knownvalue.ListSizeExact(1)),
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("firewall").AtMapKey("iptables"), knownvalue.StringExact(string(conntrack.IptablesNft))),
				},
			},
			{
				PreConfig: func() {
					run(fmt.Sprintf("sysctl -qw net.netfilter.nf_conntrack_max=%d", large+20000))
					start := time.Now()
					run(fmt.Sprintf(`perl -MIO::Socket::INET -e '
my $s = IO::Socket::INET->new(Proto => "udp") or die "socket: $!";
for my $a (1 .. 4) { my $ip = pack("C4", 127, 0, 0, $a); for my $p (1024 .. 1023 + %d) { send($s, "x", 0, pack("S n a4 x8", 2, $p, $ip)); } }'`, ports))
					entries := run("cat /proc/sys/net/netfilter/nf_conntrack_count")
					// The remote command the data source runs, timed on its own.
					script, args := conntrack.SummaryScript(10, conntrack.SummaryBudget)
					quoted := make([]string, len(args))
					for i, a := range args {
						quoted[i] = "'" + a + "'"
					}
					t0 := time.Now()
					out, err := h.Exec(t.Context(), "sh -c '"+strings.ReplaceAll(script, "'", `'\''`)+"' sh "+strings.Join(quoted, " "))
					took := time.Since(t0)
					if err != nil {
						t.Fatal(err)
					}
					sum, err := conntrack.ParseSummary(out)
					if err != nil {
						t.Fatal(err)
					}
					measured = fmt.Sprintf("%s entries (made in %v): summary of %d entries (truncated %v) in %v, %d bytes",
						entries, time.Since(start).Round(time.Second)-took.Round(time.Second), sum.Scanned, sum.Truncated, took.Round(time.Millisecond), len(out))
					t.Log(measured)
					if len(out) > 4096 {
						t.Errorf("the summary of top 10 is %d bytes, want bounded", len(out))
					}
					if took > conntrack.SummaryBudget+10*time.Second {
						t.Errorf("the summary took %v, past its budget of %v", took, conntrack.SummaryBudget)
					}
				},
				Config: config(10),
				Check: func(s *terraform.State) error {
					a := s.RootModule().Resources[addr].Primary.Attributes
					scanned, _ := strconv.Atoi(a["table_summary.entries_scanned"])
					if a["table_summary.truncated"] != "true" && scanned < large {
						return fmt.Errorf("%d entries scanned of more than %d, not truncated", scanned, large)
					}
					if a["table_summary.top.#"] != "10" {
						return fmt.Errorf("top has %s groups, want 10", a["table_summary.top.#"])
					}
					return nil
				},
			},
		},
	})
}
