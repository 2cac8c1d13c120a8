package provider

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// On the kernel host: live max and hashsize on a modular conntrack, and
// `options nf_conntrack hashsize=N` taking effect when the module loads.
func TestAccLimits_kernelModuleReload(t *testing.T) {
	h, run, kh := kernelHost(t, testhost.KernelOptions{})
	expect := func(script string, want int64) resource.TestCheckFunc {
		return func(*terraform.State) error {
			if got, _ := strconv.ParseInt(run(script), 10, 64); got != want {
				return fmt.Errorf("%s = %d, want %d", script, got, want)
			}
			return nil
		}
	}
	run("modprobe nf_conntrack")
	config := fmt.Sprintf(`
provider "conntrack" {
  private_key_file = %q
  known_hosts_file = %q
  connect_timeout  = "60s"
}
resource "conntrack_limits" "h" {
  host                = %q
  port                = %d
  max                 = 200000
  buckets             = 16384
}`, h.ClientKeyFile(), kh, h.Addr, h.Port)
	const maxFile, hashFile = "cat /proc/sys/net/netfilter/nf_conntrack_max", "cat /sys/module/nf_conntrack/parameters/hashsize"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: config,
				Check: resource.ComposeTestCheckFunc(
					expect(maxFile, 200000),
					expect(hashFile, 16384),
				),
			},
			{
				// The module reloads: the hash size comes back from modprobe.d,
				// max does not (the kernel sets 8 x buckets = 131072 at load),
				// and the plan shows that running value as drift.
				PreConfig: func() {
					run("rmmod nf_conntrack && modprobe nf_conntrack")
					if got := run(hashFile); got != "16384" {
						t.Fatalf("hashsize after reload = %s, want 16384 from options nf_conntrack hashsize", got)
					}
					if got := run(maxFile); got == "200000" {
						t.Fatal("max survived a module reload; the drift step would prove nothing")
					}
				},
				Config: config,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("conntrack_limits.h", plancheck.ResourceActionUpdate),
				}},
				Check: expect(maxFile, 200000),
			},
		},
	})
}
