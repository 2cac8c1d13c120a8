package provider

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

const (
	guardLimitsKey     = "/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established"
	guardLimitsSysctl  = "# before\nnet.ipv4.ip_forward = 0\n"
	guardLimitsLowered = "1234"
)

// killMidLimitsGuard applies a conntrack_limits change that lowers a
// running value on a fresh host behind a slowed fault proxy (so that the
// confirming login takes long enough) and kills the provider (-9) between
// applying and confirming. It returns the host, the Terraform working
// directory (its provider unslowed again), the value before and when the
// provider was killed (the guard was armed before).
func killMidLimitsGuard(t *testing.T) (*testhost.Host, *terraformCLI, string, time.Time) {
	cliConfig, binary := buildProvider(t)
	h := testhost.New(t, testhost.Options{})
	proxy := testhost.NewFaultProxy(t, h)
	writeHostFile(t, h, defaultSysctlFile, guardLimitsSysctl)
	before := hostValue(t, h, "cat "+guardLimitsKey)
	if before == guardLimitsLowered {
		t.Fatalf("the host already runs %s = %s", guardLimitsKey, guardLimitsLowered)
	}
	c := &terraformCLI{t: t, dir: t.TempDir(), env: append(os.Environ(), "TF_CLI_CONFIG_FILE="+cliConfig,
		"CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1")}
	// A read waits for a pending guard (up to its 30 s window) within one
	// command: command_timeout must be longer.
	provider := strings.Replace(faultProvider(h), `command_timeout  = "`+faultCommandTimeout.String()+`"`, `command_timeout  = "60s"`, 1)
	c.configure(provider + fmt.Sprintf(`
resource "conntrack_limits" "r" {
  host                    = %q
  port                    = %d
  tcp_timeout_established = %s
}`, proxy.Host, proxy.Port, guardLimitsLowered))
	proxy.Slow(4000)
	cmd := exec.Command(os.Getenv("TF_ACC_TERRAFORM_PATH"), "apply", "-auto-approve", "-input=false", "-no-color")
	cmd.Dir, cmd.Env = c.dir, c.env
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 120*time.Second, "the guarded change applies", func() bool {
		return guardFiles(t, h) != "" && hostValue(t, h, "cat "+guardLimitsKey) == guardLimitsLowered &&
			strings.Contains(hostFile(t, h, defaultSysctlFile), "= "+guardLimitsLowered)
	})
	if !killProvider(t, binary) {
		t.Fatal("no provider process to kill")
	}
	killed := time.Now()
	_ = cmd.Wait()
	proxy.Slow(0)
	return h, c, before, killed
}

// A conntrack_limits change that lowers a running value runs guarded: kill
// -9 of the provider between applying and confirming, and the host writes
// the running value and /etc/sysctl.conf back by itself; the next plan
// reports the rolled-back change once.
func TestAccGuard_killedProviderLimitsLowering(t *testing.T) {
	t.Parallel()
	h, c, before, _ := killMidLimitsGuard(t)
	took := waitFor(t, 40*time.Second, "the host writes the value and the file back", func() bool {
		return hostValue(t, h, "cat "+guardLimitsKey) == before && hostFile(t, h, defaultSysctlFile) == guardLimitsSysctl
	})
	t.Logf("running value and sysctl.conf back %s after the kill (window 30 s)", took.Round(100*time.Millisecond))
	warned := rollbackWarnings(c.diagnostics("plan"))
	if len(warned) != 1 || !strings.Contains(warned[0], "lowering tcp_timeout_established") {
		t.Fatalf("plan warnings about the rollback: %q, want one naming the change", warned)
	}
	if left := guardFiles(t, h); left != "" {
		t.Fatalf("guard files left after the plan reported the outcome:\n%s", left)
	}
}

// An apply right after a killed one reads the host only once the killed
// apply's guard has fired: a read before it would see the change about to
// be undone, plan no change, and the guard's restore would then leave the
// host unconverged under a successful apply.
func TestAccGuard_laterApplyWaitsForAPendingGuard(t *testing.T) {
	t.Parallel()
	h, c, _, killed := killMidLimitsGuard(t)
	if guardFiles(t, h) == "" {
		t.Fatal("no guard pending after the kill")
	}
	c.run("apply", "-auto-approve", "-input=false", "-no-color")
	// Past the killed apply's deadline (armed before the kill, 30 s).
	time.Sleep(time.Until(killed.Add(35 * time.Second)))
	if got := hostValue(t, h, "cat "+guardLimitsKey); got != guardLimitsLowered {
		t.Fatalf("running %s = %s after the apply, want %s (undone by the killed apply's guard?)", guardLimitsKey, got, guardLimitsLowered)
	}
	if got := hostFile(t, h, defaultSysctlFile); !strings.Contains(got, "= "+guardLimitsLowered) || !strings.HasPrefix(got, guardLimitsSysctl) {
		t.Fatalf("sysctl.conf after the apply:\n%s", got)
	}
}
