package provider

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// On the kernel host (a qemu guest with the stock, modular Debian kernel):
// what namespace hosts cannot show, real module loading and unloading.
func TestAccModuleBlacklist_kernelUnload(t *testing.T) {
	h, run, kh := kernelHost(t, testhost.KernelOptions{})
	loaded := func(mods ...string) error {
		table := run("cat /proc/modules")
		for _, m := range mods {
			if strings.Contains(table, m+" ") {
				return fmt.Errorf("%s is loaded:\n%s", m, table)
			}
		}
		return nil
	}
	config := func(body string) string {
		return fmt.Sprintf(`
provider "conntrack" {
  private_key_file = %q
  known_hosts_file = %q
  connect_timeout  = "60s"
}
resource "conntrack_module_blacklist" "b" {
  host   = %q
  port   = %d
  unload = true
  %s
}`, h.ClientKeyFile(), kh, h.Addr, h.Port, body)
	}
	// Conntrack in use: NAT loaded, and a CT rule whose xt_CT holds nf_conntrack.
	run("modprobe nf_nat && iptables -t raw -A PREROUTING -p udp --dport 53 -j CT --notrack")
	before := run("cat /etc/modprobe.d/blacklist.conf 2>/dev/null || true")

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		CheckDestroy: func(*terraform.State) error {
			if got := run("cat /etc/modprobe.d/blacklist.conf 2>/dev/null || true"); got != before {
				return fmt.Errorf("destroy left lines behind:\n%s", got)
			}
			return loaded("nf_conntrack") // destroy loads nothing back
		},
		Steps: []resource.TestStep{
			{
				// Refused at plan time, naming what holds conntrack; nothing written.
				Config:      config(""),
				ExpectError: errorLike("are in use", "nf_conntrack is held by the module xt_CT"),
			},
			{
				// The rule goes; force unloads xt_CT too, holders first.
				PreConfig: func() {
					if got := run("cat /etc/modprobe.d/blacklist.conf 2>/dev/null || true"); got != before {
						t.Fatalf("a refused plan wrote the file:\n%s", got)
					}
					run("iptables -t raw -F")
				},
				Config: config("force = true"),
				Check: resource.ComposeTestCheckFunc(
					func(*terraform.State) error { return loaded("nf_conntrack", "nf_nat", "xt_CT") },
					func(*terraform.State) error {
						// blacklist + install /bin/false: loading by name fails too.
						if out, err := h.Exec(context.Background(), "modprobe nf_conntrack"); err == nil {
							return fmt.Errorf("modprobe nf_conntrack succeeded after the blacklist: %s", out)
						}
						return loaded("nf_conntrack")
					},
				),
			},
			{
				// Drift: someone loads it anyway, past the install line.
				PreConfig: func() { run("modprobe --ignore-install nf_conntrack") },
				Config:    config("force = true"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("conntrack_module_blacklist.b", plancheck.ResourceActionUpdate),
				}},
				Check: func(*terraform.State) error { return loaded("nf_conntrack") },
			},
		},
	})
}
