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
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

const iptablesConfigAddr = "conntrack_iptables_config.c"

func iptablesConfigConfig(t *testing.T, h *testhost.Host, body string) string {
	return providerBlock(t, []*testhost.Host{h}, "") + fmt.Sprintf(`
resource "conntrack_iptables_config" "c" {
  host = %q
  %s
}`, h.Addr, body)
}

func TestAccIptablesConfig_lifecycleAndDrift(t *testing.T) {
	t.Parallel()
	stock, err := os.ReadFile("../conffile/shellvars/testdata/rhel7-stock-iptables-config")
	if err != nil {
		t.Fatal(err)
	}
	h := testhost.New(t, testhost.Options{})
	hostValue(t, h, "mkdir -p /etc/sysconfig")
	writeHostFile(t, h, "/etc/sysconfig/iptables-config", string(stock))
	// The fix for "a firewall restart resets the conntrack limits".
	config := iptablesConfigConfig(t, h, `modules_unload   = false
  sysctl_load_list = ".nf_conntrack"
  save_on_stop     = false`)
	converged := strings.Replace(string(stock), `IPTABLES_SAVE_ON_STOP="no"`, `IPTABLES_SAVE_ON_STOP="no"`, 1) // unchanged value
	converged += "IPTABLES_MODULES_UNLOAD=\"no\"\nIPTABLES_SYSCTL_LOAD_LIST=\".nf_conntrack\"\n"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		// The keys the resource added go; the one it found stays.
		CheckDestroy: expectFile(h, "/etc/sysconfig/iptables-config", string(stock)),
		Steps: []resource.TestStep{
			{
				Config: config,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(iptablesConfigAddr, tfjsonpath.New("modules_unload"), knownvalue.Bool(false)),
					// Unmanaged: the file's value.
					statecheck.ExpectKnownValue(iptablesConfigAddr, tfjsonpath.New("modules"), knownvalue.StringExact("")),
					statecheck.ExpectKnownValue(iptablesConfigAddr, tfjsonpath.New("status_numeric"), knownvalue.Bool(true)),
				},
				Check: expectFile(h, "/etc/sysconfig/iptables-config", converged),
			},
			{ResourceName: iptablesConfigAddr, ImportState: true, ImportStateId: h.Addr, ImportStateVerify: true},
			{
				PreConfig: func() {
					hostValue(t, h, `sed -i 's/IPTABLES_MODULES_UNLOAD="no"/IPTABLES_MODULES_UNLOAD="yes"/' /etc/sysconfig/iptables-config`)
				},
				Config: config,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(iptablesConfigAddr, plancheck.ResourceActionUpdate),
				}},
				Check: expectFile(h, "/etc/sysconfig/iptables-config", converged),
			},
			{
				PreConfig: func() { hostValue(t, h, "rm /etc/sysconfig/iptables-config") },
				Config:    config,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(iptablesConfigAddr, plancheck.ResourceActionUpdate),
				}},
				Check: expectFile(h, "/etc/sysconfig/iptables-config",
					"IPTABLES_MODULES_UNLOAD=\"no\"\nIPTABLES_SAVE_ON_STOP=\"no\"\nIPTABLES_SYSCTL_LOAD_LIST=\".nf_conntrack\"\n"),
			},
			{
				// Back to the stock file, then manage modules: remedy 4 loads none.
				PreConfig: func() { writeHostFile(t, h, "/etc/sysconfig/iptables-config", string(stock)) },
				Config:    iptablesConfigConfig(t, h, `modules = ""`+"\n  modules_unload = false"),
				Check:     expectFile(h, "/etc/sysconfig/iptables-config", string(stock)+"IPTABLES_MODULES_UNLOAD=\"no\"\n"),
			},
		},
	})
}

func TestIptablesConfig_badInput(t *testing.T) {
	t.Parallel()
	cases := map[string]configCase{
		"quotes in modules":  {`modules = "nf_conntrack\" x"`, "must be module names"},
		"newline in modules": {`modules = "a\nb"`, "must be module names"},
		"shell in list":      {`sysctl_load_list = "$(reboot)"`, "must be sysctl keys"},
		"not yes/no":         {`save_on_stop = "maybe"`, "bool"},
		"unknown key":        {`iptables_foo = true`, "Unsupported argument"},
		"file outside /etc":  {`file = "/tmp/x"`, "must be a file under /etc"},
	}
	expectConfigErrors(t, "conntrack_iptables_config", cases)
}
