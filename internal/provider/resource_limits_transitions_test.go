package provider

import (
	"fmt"
	"os"
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

// expectNoLine fails when the host's file still has a line for key.
func expectNoLine(t *testing.T, h *testhost.Host, file, key string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		if content := hostFile(t, h, file); strings.Contains(content, key) {
			return fmt.Errorf("%s still sets %s:\n%s", file, key, content)
		}
		return nil
	}
}

// The ordinary changes of issue #11, in the order a user makes them: a
// value stops being managed, apply_live goes back to its default, one
// timeout replaces another. Each plan shows what its apply does (a released
// setting plans unknown and warns), each apply is consistent with its plan,
// and the plan after it is empty (checked by the test framework).
func TestAccLimits_configurationTransitions(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	runningMax := hostInt(t, h, "cat /proc/sys/net/netfilter/nf_conntrack_max")
	runningTimeWait := hostInt(t, h, "cat /proc/sys/net/netfilter/nf_conntrack_tcp_timeout_time_wait")
	est := "net.netfilter.nf_conntrack_tcp_timeout_established"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: limitsConfig(t, h, "max = 1048576\n  apply_live = false\n  tcp_timeout_established = 3600"),
				Check: func(*terraform.State) error {
					if c := hostFile(t, h, defaultSysctlFile); !strings.Contains(c, "net.netfilter.nf_conntrack_max = 1048576\n") {
						return fmt.Errorf("max not persisted:\n%s", c)
					}
					return nil
				},
			},
			{
				// max no longer declared: its line goes, and the plan says so.
				Config: limitsConfig(t, h, "apply_live = false\n  tcp_timeout_established = 3600"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(limitsAddr, plancheck.ResourceActionUpdate),
					plancheck.ExpectUnknownValue(limitsAddr, tfjsonpath.New("max")),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(limitsAddr, tfjsonpath.New("max"), knownvalue.Int64Exact(runningMax)),
				},
				Check: expectNoLine(t, h, defaultSysctlFile, "nf_conntrack_max"),
			},
			{
				// apply_live back to its default: the persisted value goes live.
				Config: limitsConfig(t, h, "tcp_timeout_established = 3600"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(limitsAddr, plancheck.ResourceActionUpdate),
				}},
				Check: expectProc(h, est, 3600),
			},
			{
				// One timeout replaces another: the plan shows both.
				Config: limitsConfig(t, h, "tcp_timeout_time_wait = 30"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(limitsAddr, plancheck.ResourceActionUpdate),
					plancheck.ExpectUnknownValue(limitsAddr, tfjsonpath.New("tcp_timeout_established")),
					plancheck.ExpectKnownValue(limitsAddr, tfjsonpath.New("tcp_timeout_time_wait"), knownvalue.Int64Exact(30)),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					// Released: the running value stays and the state shows it.
					statecheck.ExpectKnownValue(limitsAddr, tfjsonpath.New("tcp_timeout_established"), knownvalue.Int64Exact(3600)),
				},
				Check: resource.ComposeTestCheckFunc(
					expectNoLine(t, h, defaultSysctlFile, "established"),
					expectProc(h, est, 3600),
					expectProc(h, "net.netfilter.nf_conntrack_tcp_timeout_time_wait", 30),
				),
			},
			{
				// Released again: time_wait's line goes, its running value stays.
				Config: limitsConfig(t, h, "sysctls = { udp_timeout = 40 }"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectUnknownValue(limitsAddr, tfjsonpath.New("tcp_timeout_time_wait")),
				}},
				Check: resource.ComposeTestCheckFunc(
					expectNoLine(t, h, defaultSysctlFile, "time_wait"),
					expectProc(h, "net.netfilter.nf_conntrack_tcp_timeout_time_wait", 30),
				),
			},
		},
	})
	hostValue(t, h, fmt.Sprintf("echo %d > /proc/sys/net/netfilter/nf_conntrack_tcp_timeout_time_wait", runningTimeWait))
}

// The plan warns about the line a released setting loses.
func TestAccLimits_releaseWarning(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	cli := newTerraformCLI(t, limitsConfig(t, h, "tcp_timeout_established = 3600\n  sysctls = { udp_timeout = 40 }"))
	cli.run("apply", "-auto-approve")
	cli.configure(limitsConfig(t, h, "tcp_timeout_time_wait = 30"))
	diags := cli.diagnostics("plan")
	expectWarning(t, diags, "net.netfilter.nf_conntrack_tcp_timeout_established = 3600 is no longer managed on "+h.Addr,
		"the apply removes `net.netfilter.nf_conntrack_tcp_timeout_established = 3600` from "+defaultSysctlFile)
	expectWarning(t, diags, "net.netfilter.nf_conntrack_udp_timeout = 40 is no longer managed on "+h.Addr, defaultSysctlFile)
}

// Values unknown while planning (another resource's output) are planned
// unknown, validated when known, and applied.
func TestAccLimits_unknownValues(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	config := limitsConfig(t, h, `tcp_timeout_established = terraform_data.v.output
  sysctls = { udp_timeout = terraform_data.v.output }`) + `
resource "terraform_data" "v" {
  input = 3300
}`
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: config,
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectUnknownValue(limitsAddr, tfjsonpath.New("tcp_timeout_established")),
			}},
			Check: resource.ComposeTestCheckFunc(
				expectProc(h, "net.netfilter.nf_conntrack_tcp_timeout_established", 3300),
				expectProc(h, "net.netfilter.nf_conntrack_udp_timeout", 3300),
			),
		}},
	})
}

// A key the resource added and no longer declares stays in the file, and
// the plan says so; destroy then keeps it, removing only what is still
// managed.
func TestAccIptablesConfig_release(t *testing.T) {
	t.Parallel()
	stock, err := os.ReadFile("../conffile/shellvars/testdata/rhel7-stock-iptables-config")
	if err != nil {
		t.Fatal(err)
	}
	h := testhost.New(t, testhost.Options{})
	hostValue(t, h, "mkdir -p /etc/sysconfig")
	writeHostFile(t, h, "/etc/sysconfig/iptables-config", string(stock))
	loadList := "IPTABLES_SYSCTL_LOAD_LIST=\".nf_conntrack\"\n"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		CheckDestroy:             expectFile(h, "/etc/sysconfig/iptables-config", string(stock)+loadList),
		Steps: []resource.TestStep{
			{
				Config: iptablesConfigConfig(t, h, `sysctl_load_list = ".nf_conntrack"`),
				Check:  expectFile(h, "/etc/sysconfig/iptables-config", string(stock)+loadList),
			},
			{
				Config: iptablesConfigConfig(t, h, "modules_unload = false"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(iptablesConfigAddr, plancheck.ResourceActionUpdate),
					plancheck.ExpectUnknownValue(iptablesConfigAddr, tfjsonpath.New("sysctl_load_list")),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(iptablesConfigAddr, tfjsonpath.New("sysctl_load_list"), knownvalue.StringExact(".nf_conntrack")),
				},
				Check: expectFile(h, "/etc/sysconfig/iptables-config", string(stock)+loadList+"IPTABLES_MODULES_UNLOAD=\"no\"\n"),
			},
		},
	})
}

// The file holds the new value and the kernel the old one (an apply
// interrupted after its write): the plan for the new value must still be an
// update, although the file already matches it.
func TestAccLimits_fileAheadOfKernel(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{
			{Config: limitsConfig(t, h, "tcp_timeout_established = 4000")},
			{
				PreConfig: func() { hostValue(t, h, "sed -i 's/_established = 4000$/_established = 4001/' "+defaultSysctlFile) },
				Config:    limitsConfig(t, h, "tcp_timeout_established = 4001"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(limitsAddr, plancheck.ResourceActionUpdate),
				}},
				Check: expectProc(h, "net.netfilter.nf_conntrack_tcp_timeout_established", 4001),
			},
		},
	})
}

// The upgrade from the old default: a resource whose state persists in
// /etc/sysctl.conf and whose configuration does not name a file plans an
// in-place update to the default drop-in; the apply moves the owned line
// and keeps every other byte of /etc/sysctl.conf (its line ends too).
func TestAccLimits_sysctlConfMovesToTheDefaultDropIn(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	const foreign = "# by hand\r\nkernel.sysrq = 0\r\nvm.swappiness=10"
	writeHostFile(t, h, "/etc/sysctl.conf", foreign)
	const line = "net.netfilter.nf_conntrack_tcp_timeout_established = 3600\n"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: limitsConfig(t, h, "tcp_timeout_established = 3600\n  sysctl_file = \"/etc/sysctl.conf\""),
				Check:  expectFile(h, "/etc/sysctl.conf", foreign+"\r\n"+strings.Replace(line, "\n", "\r\n", 1)),
			},
			{
				Config: limitsConfig(t, h, "tcp_timeout_established = 3600"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(limitsAddr, plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeTestCheckFunc(
					expectFile(h, "/etc/sysctl.conf", foreign+"\r\n"),
					expectFile(h, defaultSysctlFile, line),
					expectProc(h, "net.netfilter.nf_conntrack_tcp_timeout_established", 3600),
				),
			},
		},
	})
}
