package provider

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// The documented health recipe (examples/checks/main.tf, the check block on
// conntrack_host) through real Terraform on a kernel host whose table is
// made nearly full (after it overflowed): quiet while the table is empty, then both warnings in
// the next plan. Only a real kernel lets nf_conntrack_max be made small.
func TestAccHostDataSource_kernelCheckRecipe(t *testing.T) {
	t.Parallel()
	h, run, kh := kernelHost(t, testhost.KernelOptions{})
	// Tracking on (the module and a stateful rule's hooks) in a small table.
	run("modprobe nf_conntrack && iptables -A INPUT -m conntrack --ctstate INVALID -j DROP && " +
		"sysctl -qw net.netfilter.nf_conntrack_max=64 net.netfilter.nf_conntrack_udp_timeout=600")

	// The per-entry size that provider::conntrack::table_memory_bytes documents.
	if size := run(`awk '$1 == "nf_conntrack" {print $4}' /proc/slabinfo`); size != strconv.Itoa(conntrack.EntryBytes) {
		t.Errorf("nf_conntrack slab object size is %s bytes on the kernel host, conntrack.EntryBytes says %d", size, conntrack.EntryBytes)
	}

	recipe, err := os.ReadFile("../../examples/checks/main.tf")
	if err != nil {
		t.Fatal(err)
	}
	hosts, _ := json.Marshal(map[string]any{"k": map[string]any{"host": h.Addr, "port": h.Port}})
	c := newTerraformCLI(t, fmt.Sprintf(`
provider "conntrack" {
  private_key_file = %q
  known_hosts_file = %q
  connect_timeout  = "60s"
}
`, h.ClientKeyFile(), kh)+string(recipe))
	vars := []string{"-var", "hosts=" + string(hosts)}
	const failed = "Check block assertion failed"
	for _, d := range c.diagnostics("apply", append(vars, "-auto-approve")...) {
		if d.Severity == "error" || d.Summary == failed {
			t.Fatalf("apply on a healthy table: %s: %s: %s", d.Severity, d.Summary, d.Detail)
		}
	}

	// Fill the table: UDP datagrams to 100 loopback ports, each a new
	// unreplied entry kept for 600 s; past 64 the kernel evicts (early_drop)
	// or drops. Then leave room for the plan's own SSH login (a full table
	// would drop it too): 64 of 75 entries, 85%.
	run(`for p in $(seq 20001 20100); do echo x >/dev/udp/127.0.0.1/$p; done 2>/dev/null; true`)
	run("sysctl -qw net.netfilter.nf_conntrack_max=75")
	count, _ := strconv.Atoi(run("cat /proc/sys/net/netfilter/nf_conntrack_count"))
	if count < 60 || count > 72 {
		t.Fatalf("nf_conntrack_count = %d of 75 after filling, want 80%% to 96%%", count)
	}

	var warnings []string
	for _, d := range c.diagnostics("plan", vars...) {
		if d.Severity == "error" {
			t.Fatalf("plan: %s: %s", d.Summary, d.Detail)
		}
		if d.Summary == failed {
			warnings = append(warnings, d.Detail)
		}
	}
	all := strings.Join(warnings, "\n")
	if len(warnings) != 2 {
		t.Fatalf("plan warned %d time(s), want the fill and the counters warnings:\n%s", len(warnings), all)
	}
	if re := errorLike("Conntrack tables at least 75% full: k", "% of 75"); !re.MatchString(all) {
		t.Errorf("no fill warning matching %s in:\n%s", re, all)
	}
	if re := errorLike("Conntrack counters grew since the last apply", "k early_drop +"); !re.MatchString(all) {
		t.Errorf("no counters warning matching %s in:\n%s", re, all)
	}
}
