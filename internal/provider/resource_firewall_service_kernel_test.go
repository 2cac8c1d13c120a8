package provider

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// On a systemd kernel host with iptables.service and ip6tables.service:
// stopping the firewall flushes the rules and unloads conntrack (remedy 1),
// disabling it keeps it down across a reboot, and reading that stopped
// firewall loads no module. Then the same for Debian's nftables unit.
func TestAccFirewallService_kernelSystemd(t *testing.T) {
	t.Parallel()
	h, run, kh := kernelHost(t, testhost.KernelOptions{Systemd: true})
	run(testhost.IptablesServicesScript(true, serviceRules4, serviceRules6))
	run("systemctl start iptables.service ip6tables.service")
	modules := func() string { return run("cut -d' ' -f1 /proc/modules | sort") }
	if !strings.Contains(modules(), "nf_conntrack\n") {
		t.Fatalf("the started firewall did not load conntrack:\n%s", modules())
	}
	unit := func(svc, want string) resource.TestCheckFunc {
		return func(*terraform.State) error {
			out, _ := h.Exec(t.Context(), fmt.Sprintf("systemctl is-enabled %[1]s; systemctl is-active %[1]s", svc))
			if got := strings.Join(strings.Fields(out), " "); got != want {
				return fmt.Errorf("%s: is-enabled, is-active = %q, want %q", svc, got, want)
			}
			return nil
		}
	}
	noConntrack := func(*terraform.State) error {
		if m := modules(); strings.Contains(m, "nf_conntrack\n") {
			return fmt.Errorf("nf_conntrack is loaded:\n%s", m)
		}
		return nil
	}
	config := func(body string) string { return kernelConfig(h, kh, "conntrack_firewall_service", "f", body) }
	stopped := config("enabled = false\n  running = false")
	nftablesStopped := config(`services = ["nftables"]
  enabled  = false
  running  = false`)
	var before string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: stopped,
				Check: resource.ComposeTestCheckFunc(
					unit("iptables", "disabled inactive"),
					unit("ip6tables", "disabled inactive"),
					noConntrack,
				),
			},
			{
				// Disabled holds at boot; reading the stopped firewall (refresh
				// and plan) loads nothing.
				PreConfig: func() {
					if err := h.Reboot(t.Context()); err != nil {
						t.Fatal(err)
					}
					before = modules()
				},
				Config: stopped,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectEmptyPlan(),
				}},
				Check: resource.ComposeTestCheckFunc(
					unit("iptables", "disabled inactive"),
					noConntrack,
					func(*terraform.State) error {
						if after := modules(); after != before {
							return fmt.Errorf("reading loaded modules:\nbefore\n%s\nafter\n%s", before, after)
						}
						return nil
					},
				),
			},
			{
				// Drift: someone starts it; the plan shows it and apply stops it.
				PreConfig: func() { run("systemctl start iptables.service") },
				Config:    stopped,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("conntrack_firewall_service.f", plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeTestCheckFunc(unit("iptables", "disabled inactive"), noConntrack),
			},
			{
				Config: config("enabled = true\n  running = true"),
				Check: resource.ComposeTestCheckFunc(
					unit("iptables", "enabled active"),
					unit("ip6tables", "enabled active"),
					func(*terraform.State) error {
						if got := run("iptables -t raw -S PREROUTING"); !strings.Contains(got, "--notrack") {
							return fmt.Errorf("start did not restore the rules:\n%s", got)
						}
						return nil
					},
				),
			},
			{
				// nftables (Debian's own unit): stop runs `nft flush ruleset`,
				// which takes the rules of iptables-nft along, so the plan warns
				// about the NOTRACK rule in /etc/sysconfig/iptables too.
				PreConfig: func() {
					run("systemctl enable --now nftables.service")
					diags := planDiagnostics(t, nftablesStopped)
					expectWarning(t, diags, "Stopping nftables on "+h.Addr+" flushes NOTRACK rules", "hold 1 rule(s)")
					expectWarning(t, diags, "Stopping nftables on "+h.Addr+" flushes the whole ruleset", "nft flush ruleset")
				},
				Config: nftablesStopped,
				Check: resource.ComposeTestCheckFunc(
					unit("nftables", "disabled inactive"),
					func(*terraform.State) error {
						if got := run("nft list ruleset"); got != "" {
							return fmt.Errorf("the ruleset after stopping nftables:\n%s", got)
						}
						return nil
					},
				),
			},
			{
				Config: config(`services = ["nftables"]
  enabled  = true
  running  = true`),
				Check: resource.ComposeTestCheckFunc(
					unit("nftables", "enabled active"),
					func(*terraform.State) error {
						if got := run("nft list tables"); !strings.Contains(got, "table inet filter") {
							return fmt.Errorf("nftables did not load /etc/nftables.conf: %q", got)
						}
						return nil
					},
				),
			},
		},
	})
}
