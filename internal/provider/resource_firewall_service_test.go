package provider

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

const firewallServiceAddr = "conntrack_firewall_service.f"

// Rules the iptables service restores on start: a stateful filter rule and
// a NOTRACK rule of conntrack_notrack_rule.
const (
	serviceRules4 = `*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -p udp -m udp --dport 53 -m comment --comment "conntrack-tf:0123456789abcdef" -j CT --notrack
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT
COMMIT
`
	serviceRules6 = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p ipv6-icmp -j ACCEPT
COMMIT
`
)

func firewallServiceConfig(t *testing.T, h *testhost.Host, body string) string {
	return providerBlock(t, []*testhost.Host{h}, "") + fmt.Sprintf(`
resource "conntrack_firewall_service" "f" {
  host = %q
  %s
}`, h.Addr, body)
}

// expectService checks a SysV service through its lock file and boot links.
func expectService(t *testing.T, h *testhost.Host, svc string, enabled, running bool) resource.TestCheckFunc {
	return func(*terraform.State) error {
		got := hostValue(t, h, fmt.Sprintf(`e=no; r=no
for l in /etc/rc[2345].d/S??%[1]s; do [ -e "$l" ] && e=yes; done
[ -e /var/lock/subsys/%[1]s ] && r=yes
echo "$e $r"`, svc))
		if want := fmt.Sprintf("%s %s", yesNo(enabled), yesNo(running)); got != want {
			return fmt.Errorf("%s: enabled, running = %s, want %s", svc, got, want)
		}
		return nil
	}
}

// On a SysV host (a namespace host: no systemd, Debian's update-rc.d and
// service), with iptables-services' start/stop semantics for real: stop
// flushes the rules, start restores them.
func TestAccFirewallService_sysv(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	hostValue(t, h, testhost.IptablesServicesScript(false, serviceRules4, serviceRules6))
	hostValue(t, h, "service iptables start && service ip6tables start")
	raw := func() string { return hostValue(t, h, "iptables -w -t raw -S PREROUTING") }
	if !strings.Contains(raw(), "--notrack") {
		t.Fatalf("the service did not restore the rules:\n%s", raw())
	}
	rulesGone := func(*terraform.State) error {
		if got := raw(); strings.Contains(got, "--notrack") {
			return fmt.Errorf("raw table after stop:\n%s", got)
		}
		return nil
	}
	stopped := firewallServiceConfig(t, h, "enabled = false\n  running = false")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		// Destroy leaves the services as they are.
		CheckDestroy: expectService(t, h, "iptables", true, true),
		Steps: []resource.TestStep{
			{
				Config: stopped,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(firewallServiceAddr, tfjsonpath.New("init_system"), knownvalue.StringExact("sysv")),
					statecheck.ExpectKnownValue(firewallServiceAddr, tfjsonpath.New("states").AtMapKey("iptables"), knownvalue.ObjectExact(map[string]knownvalue.Check{
						"installed": knownvalue.Bool(true), "enabled": knownvalue.Bool(false), "running": knownvalue.Bool(false),
					})),
				},
				Check: resource.ComposeTestCheckFunc(
					expectService(t, h, "iptables", false, false),
					expectService(t, h, "ip6tables", false, false),
					rulesGone,
				),
			},
			{ResourceName: firewallServiceAddr, ImportState: true, ImportStateId: h.Addr, ImportStateVerify: true},
			{
				// Drift: someone starts iptables again (ip6tables stays down,
				// so the declared running = false reads true: not all stopped).
				PreConfig: func() { hostValue(t, h, "service iptables start") },
				Config:    stopped,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(firewallServiceAddr, plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeTestCheckFunc(expectService(t, h, "iptables", false, false), rulesGone),
			},
			{
				// Drift at boot: someone enables it again.
				PreConfig: func() { hostValue(t, h, "update-rc.d iptables enable") },
				Config:    stopped,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(firewallServiceAddr, plancheck.ResourceActionUpdate),
				}},
				Check: expectService(t, h, "iptables", false, false),
			},
			{
				// Only iptables, started and enabled: the rules come back.
				Config: firewallServiceConfig(t, h, `services = ["iptables"]
  enabled  = true
  running  = true`),
				Check: resource.ComposeTestCheckFunc(
					expectService(t, h, "iptables", true, true),
					expectService(t, h, "ip6tables", false, false),
					func(*terraform.State) error {
						if !strings.Contains(raw(), "--notrack") {
							return fmt.Errorf("start did not restore the rules:\n%s", raw())
						}
						return nil
					},
				),
			},
			{ResourceName: firewallServiceAddr, ImportState: true, ImportStateId: h.Addr + ",iptables", ImportStateVerify: true},
			{
				ResourceName: firewallServiceAddr, ImportState: true, ImportStateId: h.Addr + ",ufw",
				ExpectError: errorLike("Invalid import ID", `"ufw" is not one of`),
			},
		},
	})
}

func TestFirewallService_badInput(t *testing.T) {
	t.Parallel()
	expectConfigErrors(t, "conntrack_firewall_service", map[string]configCase{
		"unknown service":     {`services = ["ufw"]`, "value must be one of"},
		"empty services":      {`services = []`, "at least 1"},
		"shell in a service":  {`services = ["iptables; reboot"]`, "value must be one of"},
		"unknown init system": {`init_system = "upstart"`, "value must be one of"},
		"not a bool":          {`running = "maybe"`, "bool"},
	})
}

// The plan warns before stopping a service flushes rules of
// conntrack_notrack_rule, counting them in the rules file.
func TestAccFirewallService_flushWarning(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	hostValue(t, h, testhost.IptablesServicesScript(false, serviceRules4, serviceRules6))
	hostValue(t, h, "service iptables start && service ip6tables start")
	diags := planDiagnostics(t, firewallServiceConfig(t, h, "running = false"))
	expectWarning(t, diags, "Stopping iptables on "+h.Addr+" flushes NOTRACK rules", "hold 1 rule(s) of conntrack_notrack_rule")
	// ip6tables' file has none of ours: no warning for it.
	if d, ok := warningOf(diags, "Stopping ip6tables on "+h.Addr+" flushes NOTRACK rules"); ok {
		t.Fatalf("warning for ip6tables, whose rules file has no managed rule: %+v", d)
	}
}

// A refresh says which way the services drifted.
func TestAccFirewallService_driftWarning(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	hostValue(t, h, testhost.IptablesServicesScript(false, serviceRules4, serviceRules6))
	diags := driftDiagnostics(t, firewallServiceConfig(t, h, "enabled = false\n  running = false"),
		func() { hostValue(t, h, "service iptables start") })
	expectWarning(t, diags, "The firewall services of "+h.Addr+" drifted", "running was false", "ip6tables not running, iptables running")
}
