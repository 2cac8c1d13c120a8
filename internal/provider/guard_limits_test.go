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

// A conntrack_limits change that lowers a running value runs guarded: kill
// -9 of the provider between applying and confirming, and the host writes
// the running value and /etc/sysctl.conf back by itself; the next plan
// reports the rolled-back change once. The host sits behind a slowed fault
// proxy so that the confirming login takes long enough to kill the
// provider before it.
func TestAccGuard_killedProviderLimitsLowering(t *testing.T) {
	cliConfig, binary := buildProvider(t)
	h := testhost.New(t, testhost.Options{})
	proxy := testhost.NewFaultProxy(t, h)
	const key = "/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established"
	writeHostFile(t, h, "/etc/sysctl.conf", "# before\nnet.ipv4.ip_forward = 0\n")
	before := hostValue(t, h, "cat "+key)
	lowered := "1234"
	if before == lowered {
		t.Fatalf("the host already runs %s = %s", key, lowered)
	}
	c := &terraformCLI{t: t, dir: t.TempDir(), env: append(os.Environ(), "TF_CLI_CONFIG_FILE="+cliConfig,
		"CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1")}
	c.configure(faultProvider(h) + fmt.Sprintf(`
resource "conntrack_limits" "r" {
  host                    = %q
  port                    = %d
  tcp_timeout_established = %s
}`, proxy.Host, proxy.Port, lowered))
	proxy.Slow(4000)
	cmd := exec.Command(os.Getenv("TF_ACC_TERRAFORM_PATH"), "apply", "-auto-approve", "-input=false", "-no-color")
	cmd.Dir, cmd.Env = c.dir, c.env
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Between applying and confirming: the guard is armed, the file and
	// the running value are the new ones.
	waitFor(t, 120*time.Second, "the guarded change applies", func() bool {
		return guardFiles(t, h) != "" && hostValue(t, h, "cat "+key) == lowered &&
			strings.Contains(hostFile(t, h, "/etc/sysctl.conf"), "= "+lowered)
	})
	if !killProvider(t, binary) {
		t.Fatal("no provider process to kill")
	}
	_ = cmd.Wait()
	proxy.Slow(0)
	took := waitFor(t, 40*time.Second, "the host writes the value and the file back", func() bool {
		return hostValue(t, h, "cat "+key) == before && hostFile(t, h, "/etc/sysctl.conf") == "# before\nnet.ipv4.ip_forward = 0\n"
	})
	t.Logf("running value and sysctl.conf back %s after the kill (window 30 s)", took.Round(100*time.Millisecond))
	var warned []string
	for _, d := range c.diagnostics("plan") {
		if d.Severity == "warning" && strings.Contains(d.Summary, "was rolled back") {
			warned = append(warned, d.Detail)
		}
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "lowering tcp_timeout_established") {
		t.Fatalf("plan warnings about the rollback: %q, want one naming the change", warned)
	}
	if left := guardFiles(t, h); left != "" {
		t.Fatalf("guard files left after the plan reported the outcome:\n%s", left)
	}
}
