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

// Values that are unknown while planning (another resource's output, as a
// data source or a resource created in the same run gives them) are
// accepted by validation and plan, and applied once known: one test per
// resource (conntrack_limits has its own in resource_limits_transitions_test.go).

// fromData is a terraform_data resource whose output is the HCL value v:
// unknown until it is created.
func fromData(name, v string) string {
	return fmt.Sprintf("\nresource \"terraform_data\" %q {\n  input = %s\n}\n", name, v)
}

func TestAccUnknownValues_notrackRule(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	hostValue(t, h, "mkdir -p /etc/iptables")
	config := notrackConfig(t, h, `protocol = terraform_data.proto.output
  port     = terraform_data.port.output
  chains   = [terraform_data.chain.output]
  comment  = terraform_data.comment.output`) +
		fromData("proto", `"udp"`) + fromData("port", `"5353"`) + fromData("chain", `"PREROUTING"`) + fromData("comment", `"mdns"`)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: config,
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectUnknownValue(notrackAddr, tfjsonpath.New("port")),
			}},
			Check: expectLiveRules(t, h, "-A PREROUTING -p udp -m udp --dport 5353"),
		}},
	})
}

func TestAccUnknownValues_iptablesConfig(t *testing.T) {
	t.Parallel()
	stock, err := os.ReadFile("../conffile/shellvars/testdata/rhel7-stock-iptables-config")
	if err != nil {
		t.Fatal(err)
	}
	h := testhost.New(t, testhost.Options{})
	hostValue(t, h, "mkdir -p /etc/sysconfig")
	writeHostFile(t, h, "/etc/sysconfig/iptables-config", string(stock))
	config := iptablesConfigConfig(t, h, `modules          = terraform_data.modules.output
  sysctl_load_list = terraform_data.list.output
  modules_unload   = terraform_data.unload.output`) +
		fromData("modules", `""`) + fromData("list", `".nf_conntrack"`) + fromData("unload", "false")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: config,
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectUnknownValue(iptablesConfigAddr, tfjsonpath.New("sysctl_load_list")),
			}},
			Check: expectFile(h, "/etc/sysconfig/iptables-config", string(stock)+"IPTABLES_MODULES_UNLOAD=\"no\"\nIPTABLES_SYSCTL_LOAD_LIST=\".nf_conntrack\"\n"),
		}},
	})
}

func TestAccUnknownValues_moduleBlacklist(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	module := "nf_conntrack_tftp"
	if len(builtinModules(t, h, []string{module})) > 0 {
		module = "nf_conntrack_irc"
	}
	config := blacklistConfig(t, h, `modules = [terraform_data.m.output]
  disable = terraform_data.d.output
  file    = terraform_data.f.output`) +
		fromData("m", fmt.Sprintf("%q", module)) + fromData("d", "true") + fromData("f", `"/etc/modprobe.d/from-data.conf"`)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: config,
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectUnknownValue(blacklistAddr, tfjsonpath.New("file")),
			}},
			Check: func(*terraform.State) error {
				got := hostFile(t, h, "/etc/modprobe.d/from-data.conf")
				if !strings.Contains(got, "blacklist "+module+"\n") || !strings.Contains(got, "install "+module+" /bin/false\n") {
					return fmt.Errorf("not blacklisted:\n%s", got)
				}
				return nil
			},
		}},
	})
}

func TestAccUnknownValues_firewallService(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	hostValue(t, h, testhost.IptablesServicesScript(false, serviceRules4, serviceRules6))
	hostValue(t, h, "service iptables start && service ip6tables start")
	config := firewallServiceConfig(t, h, `services = [terraform_data.s.output]
  running  = terraform_data.r.output
  enabled  = terraform_data.e.output`) +
		fromData("s", `"iptables"`) + fromData("r", "false") + fromData("e", "false")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: config,
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectUnknownValue(firewallServiceAddr, tfjsonpath.New("running")),
			}},
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(firewallServiceAddr, tfjsonpath.New("running"), knownvalue.Bool(false)),
			},
			Check: resource.ComposeTestCheckFunc(
				expectService(t, h, "iptables", false, false),
				expectService(t, h, "ip6tables", true, true),
			),
		}},
	})
}

func TestAccUnknownValues_hostDataSource(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	config := providerBlock(t, []*testhost.Host{h}, "") + `
data "conntrack_host" "h" {
  host = terraform_data.addr.output
}` + fromData("addr", fmt.Sprintf("%q", h.Addr))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: config,
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue("data.conntrack_host.h", tfjsonpath.New("host"), knownvalue.StringExact(h.Addr)),
			},
		}},
	})
}
