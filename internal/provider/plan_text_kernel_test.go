package provider

import (
	"testing"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// On a real kernel: a blacklisted module someone loads again plans
// `~ "nf_conntrack" = "disabled" -> "unloaded"`, not the modules set
// gaining it.
func TestAccPlanText_kernelBlacklistModuleLoadedAgain(t *testing.T) {
	t.Parallel()
	h, run, kh := kernelHost(t, testhost.KernelOptions{})
	run("modprobe nf_conntrack")
	config := kernelConfig(h, kh, "conntrack_module_blacklist", "b", `modules = ["nf_conntrack"]
  unload  = true
  force   = true`)
	c, plan := driftPlan(t, config, func() { run("modprobe --ignore-install nf_conntrack") })
	expectPlanLines(t, plan, `~ "nf_conntrack" = "disabled" -> "unloaded"`)
	expectNotInPlan(t, plan, "known after apply", "~ modules", `+ "nf_conntrack"`)
	c.apply()
	expectNoChanges(t, c)
	if got := run("grep -c '^nf_conntrack ' /proc/modules || true"); got != "0" {
		t.Fatalf("nf_conntrack is still loaded after the apply")
	}
}
