package provider

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// One confirming login per host (issue #15): the guarded changes of a host
// in one apply are confirmed together by one new login.

// batchConfig is two NOTRACK rules (UDP 53 and 123) and a conntrack_limits
// that lowers tcp_timeout_established on h: three guarded changes.
func batchConfig(t *testing.T, h *testhost.Host) string {
	return providerBlock(t, []*testhost.Host{h}, "") + fmt.Sprintf(`
resource "conntrack_notrack_rule" "dns" {
  host     = %[1]q
  protocol = "udp"
  port     = "53"
}
resource "conntrack_notrack_rule" "ntp" {
  host     = %[1]q
  protocol = "udp"
  port     = "123"
}
resource "conntrack_limits" "l" {
  host                    = %[1]q
  tcp_timeout_established = %[2]s
}`, h.Addr, guardLimitsLowered)
}

// batchHost prepares h for batchConfig: an empty rules file and a
// sysctl.conf, and checks that the limit is a lowering there.
func batchHost(t *testing.T, h *testhost.Host) {
	t.Helper()
	hostValue(t, h, "mkdir -p /etc/iptables && printf '# before\\n' > /etc/iptables/rules.v4")
	writeHostFile(t, h, defaultSysctlFile, guardLimitsSysctl)
	if v := hostInt(t, h, "cat "+guardLimitsKey); v <= 1234 {
		t.Fatalf("the host runs %s = %d: not a lowering", guardLimitsKey, v)
	}
}

// logins counts h's successful SSH logins so far.
func logins(t *testing.T, h *testhost.Host) int {
	t.Helper()
	n, err := h.Logins()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// settleCommands counts the provider's settle commands in a debug log.
func settleCommands(t *testing.T, log string) int {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "remote command") && strings.Contains(l, "settle a guarded change") {
			n++
		}
	}
	return n
}

// A host with two NOTRACK rules, an nft NOTRACK table and a lowered limit
// sees exactly one confirming login in the apply: the apply's logins are
// those of a converged plan (its walk's one connection), the apply walk's
// one connection, and one more. Everything is applied and confirmed, and
// nothing is left in /run.
func TestAccGuard_oneConfirmingLoginPerHost(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	batchHost(t, h)
	// The provider as a plugin process of its own, whose debug log
	// Terraform writes to TF_LOG_PATH.
	cliConfig, _ := buildProvider(t)
	log := filepath.Join(t.TempDir(), "provider.log")
	c := &terraformCLI{t: t, dir: t.TempDir(), env: append(os.Environ(), "TF_CLI_CONFIG_FILE="+cliConfig,
		"CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1", "TF_LOG_PROVIDER=DEBUG", "TF_LOG_PATH="+log)}
	// An nft NOTRACK table joins the same batch.
	c.configure(batchConfig(t, h) + fmt.Sprintf(`
resource "conntrack_nft_notrack_rule" "memcache" {
  host     = %q
  name     = "memcache"
  protocol = "udp"
  port     = "11211"
}`, h.Addr))
	before := logins(t, h)
	started := time.Now()
	c.run("apply", "-auto-approve", "-input=false", "-no-color")
	took := time.Since(started)
	applied := logins(t, h) - before
	before = logins(t, h)
	if plan := string(c.run("plan", "-no-color", "-input=false")); !strings.Contains(plan, "No changes.") {
		t.Fatalf("plan after the apply:\n%s", plan)
	}
	walk := logins(t, h) - before
	settles := settleCommands(t, log)
	t.Logf("apply: %d logins in %s (a plan walk: %d), %d settle commands", applied, took.Round(100*time.Millisecond), walk, settles)
	if walk != 1 {
		t.Fatalf("a converged plan made %d logins, want 1", walk)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(log)
			for _, l := range strings.Split(string(b), "\n") {
				if strings.Contains(l, "remote command") || strings.Contains(l, "Received request") {
					t.Log(l)
				}
			}
		}
	})
	if confirming := applied - 2*walk; confirming != 1 || settles != 1 {
		t.Fatalf("the apply made %d confirming logins (%d logins in all) and %d settle commands, want 1 and 1", confirming, applied, settles)
	}
	if got := hostValue(t, h, "cat "+guardLimitsKey); got != guardLimitsLowered {
		t.Fatalf("%s = %s, want %s", guardLimitsKey, got, guardLimitsLowered)
	}
	if raw := liveRaw(t, h); strings.Count(raw, "conntrack-tf:") != 4 {
		t.Fatalf("live raw table, want 2 rules in 2 chains each:\n%s", raw)
	}
	if file := hostFile(t, h, "/etc/iptables/rules.v4"); strings.Count(file, "conntrack-tf:") != 4 {
		t.Fatalf("rules file:\n%s", file)
	}
	if table := hostValue(t, h, "nft list table inet conntrack_tf_memcache"); !strings.Contains(table, "udp dport 11211 notrack") {
		t.Fatalf("nft table:\n%s", table)
	}
	if left := guardFiles(t, h); left != "" {
		t.Fatalf("guard files left:\n%s", left)
	}
}

// One of two guarded changes of a host fails (iptables refuses the NTP
// rule): it is rolled back at once and reported, while the other (the DNS
// rule) and the lowered limit are confirmed and stay, live and in the
// files; nothing is left in /run, and the next plan wants only the
// refused rule.
func TestAccGuard_failedChangeBesideAConfirmedOne(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	batchHost(t, h)
	hostValue(t, h, `printf '#!/bin/sh\ncase " $* " in *" --dport 123 "*) echo "test refusal" >&2; exit 1 ;; esac\nexec /usr/sbin/iptables-nft "$@"\n' > /etc/ct-refuse && `+
		`chmod 755 /etc/ct-refuse && ln -sf /etc/ct-refuse /etc/alternatives/iptables`)
	before := tables(t, h)
	c := newTerraformCLI(t, batchConfig(t, h))
	var refused bool
	for _, d := range c.diagnostics("apply", "-auto-approve") {
		switch {
		case d.Severity == "error" && strings.Contains(d.Summary, "iptables refused a rule on "+h.Addr) && strings.Contains(d.Detail, "test refusal"):
			refused = true
		case d.Severity == "error" && strings.Contains(d.Summary, "The firewall change on "+h.Addr+" was rolled back"):
		default:
			t.Errorf("unexpected diagnostic %+v", d)
		}
	}
	if !refused {
		t.Fatal("the refusal was not reported")
	}
	if got := hostValue(t, h, "cat "+guardLimitsKey); got != guardLimitsLowered {
		t.Fatalf("%s = %s, want the confirmed %s", guardLimitsKey, got, guardLimitsLowered)
	}
	if file := hostFile(t, h, defaultSysctlFile); !strings.Contains(file, "= "+guardLimitsLowered) {
		t.Fatalf("sysctl.conf lost the confirmed limit:\n%s", file)
	}
	raw := liveRaw(t, h)
	if strings.Count(raw, "conntrack-tf:") != 2 || !strings.Contains(raw, "--dport 53") || strings.Contains(raw, "--dport 123") {
		t.Fatalf("live raw table, want the DNS rule in 2 chains only:\n%s", raw)
	}
	file := hostFile(t, h, "/etc/iptables/rules.v4")
	if strings.Count(file, "conntrack-tf:") != 2 || !strings.Contains(file, "--dport 53") || strings.Contains(file, "--dport 123") {
		t.Fatalf("rules file, want the DNS rule only:\n%s", file)
	}
	if got := tables(t, h); got == before {
		t.Fatal("the tables are as before the apply: the confirmed rule is gone")
	}
	if left := guardFiles(t, h); left != "" {
		t.Fatalf("guard files left:\n%s", left)
	}
	plan := string(c.run("plan", "-no-color", "-input=false"))
	if !strings.Contains(plan, "conntrack_notrack_rule.ntp will be created") || strings.Contains(plan, "conntrack_notrack_rule.dns will") ||
		strings.Contains(plan, "conntrack_limits.l will") || !strings.Contains(plan, "1 to add, 0 to change, 0 to destroy") {
		t.Fatalf("plan after the apply, want only the refused rule:\n%s", plan)
	}
}

// kill -9 of the provider while two NOTRACK rule changes of one host (one
// raw table, one rules file) await their one confirming login, behind a
// slowed fault proxy: the older guard's timer fires first and restores the
// newer one before itself (the newer one saved a table and a file that
// hold the older change), so the tables and the rules file are back as
// before both, and the next plan reports both rollbacks.
func TestAccGuard_killedProviderBatchIsRolledBackNewestFirst(t *testing.T) {
	t.Parallel()
	cliConfig, binary := buildProvider(t)
	h := testhost.New(t, testhost.Options{})
	proxy := testhost.NewFaultProxy(t, h)
	hostValue(t, h, "mkdir -p /etc/iptables && printf '# before\\n' > /etc/iptables/rules.v4")
	before := tables(t, h)
	c := &terraformCLI{t: t, dir: t.TempDir(), env: append(os.Environ(), "TF_CLI_CONFIG_FILE="+cliConfig,
		"CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1")}
	provider := strings.Replace(faultProvider(h), `command_timeout  = "`+faultCommandTimeout.String()+`"`, `command_timeout  = "60s"`, 1)
	rule := func(name, port string) string {
		return fmt.Sprintf(`
resource "conntrack_notrack_rule" %q {
  host             = %q
  port             = %q
  protocol         = "udp"
  ssh_port         = %d
  rollback_timeout = 40
}`, name, proxy.Host, port, proxy.Port)
	}
	c.configure(provider + rule("dns", "53") + rule("ntp", "123"))
	proxy.Slow(4000)
	cmd := exec.Command(os.Getenv("TF_ACC_TERRAFORM_PATH"), "apply", "-auto-approve", "-input=false", "-no-color")
	cmd.Dir, cmd.Env = c.dir, c.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("terraform apply:\n%s", out.String())
		}
	})
	armed := func() int {
		n := 0
		for _, l := range strings.Fields(guardFiles(t, h)) {
			if !strings.HasSuffix(l, ".outcome") {
				n++
			}
		}
		return n
	}
	// Once both are applied the proxy stalls at once, so the confirming
	// login cannot reach the host before the kill (without the stall, a
	// kill landing after the login had confirmed the older change left its
	// rule, rightly, and failed the test).
	waitFor(t, 120*time.Second, "both changes applied, awaiting their confirmation", func() bool {
		if strings.Count(liveRaw(t, h), "conntrack-tf:") == 4 && armed() == 2 {
			proxy.Stall()
			return true
		}
		return false
	})
	if armed() != 2 {
		t.Fatal("a guard was settled before the proxy stalled; run again")
	}
	if !killProvider(t, binary) {
		t.Fatal("no provider process to kill")
	}
	_ = cmd.Wait()
	proxy.Resume()
	proxy.Slow(0)
	// Both guards have fired (their directories are gone, their outcomes
	// recorded) before the host is checked: in the wrong order the
	// second restore brings the first change back.
	took := waitFor(t, 55*time.Second, "both guards fire and record their outcome", func() bool { return armed() == 0 })
	t.Logf("both guards fired %s after the kill (rollback_timeout 40 s)", took.Round(100*time.Millisecond))
	if got := tables(t, h); got != before {
		t.Fatalf("tables not restored:\n%s\nwant:\n%s", got, before)
	}
	if got := hostFile(t, h, "/etc/iptables/rules.v4"); got != "# before\n" {
		t.Fatalf("rules file not restored: %q", got)
	}
	warned := rollbackWarnings(c.diagnostics("plan"))
	if len(warned) != 2 || warned[0] == warned[1] || !strings.Contains(warned[0], "adding NOTRACK rule") || !strings.Contains(warned[1], "adding NOTRACK rule") {
		t.Fatalf("plan warnings about the rollback: %q, want one per change", warned)
	}
	// The plan's read waited 30 s past each deadline at most; the
	// records are gone once reported.
	if left := guardFiles(t, h); left != "" {
		t.Fatalf("guard files left after the plan reported the outcomes:\n%s", left)
	}
}
