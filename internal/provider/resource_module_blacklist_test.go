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

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

const blacklistAddr = "conntrack_module_blacklist.b"

func blacklistConfig(t *testing.T, h *testhost.Host, body string) string {
	return providerBlock(t, []*testhost.Host{h}, "") + fmt.Sprintf(`
resource "conntrack_module_blacklist" "b" {
  host = %q
  %s
}`, h.Addr, body)
}

func TestAccModuleBlacklist_fileDriftImportAndBuiltins(t *testing.T) {
	t.Parallel()
	foreign, err := os.ReadFile("../conffile/modprobe/testdata/ubuntu-blacklist-rare-network.conf-alias-off")
	if err != nil {
		t.Fatal(err)
	}
	h := testhost.New(t, testhost.Options{})
	writeHostFile(t, h, "/etc/modprobe.d/blacklist.conf", string(foreign))
	hasOurs := func(file string) error {
		for _, m := range conntrack.ClassicBlacklist {
			if !strings.Contains(file, "\nblacklist "+m+"\n") || !strings.Contains(file, "\ninstall "+m+" /bin/false\n") {
				return fmt.Errorf("%s not blacklisted and disabled:\n%s", m, file)
			}
		}
		return nil
	}
	// Listed modules built into the host's kernel are reported, not
	// unloadable.
	builtin := []knownvalue.Check{}
	for _, m := range builtinModules(t, h, conntrack.ClassicBlacklist) {
		builtin = append(builtin, knownvalue.StringExact(m))
	}
	// A namespace host runs the machine's own kernel: unload only where
	// nothing listed is loadable, so that unload is a no-op that must
	// succeed (the kernel tier unloads for real).
	unload := ""
	if loadable := loadableModules(t, h, []string{"xt_state", "nf_conntrack_ftp"}); len(loadable) == 0 {
		unload = "\n  unload  = true"
	} else {
		t.Logf("not unloading %v: this machine's kernel could unload them", loadable)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		// Destroy takes out exactly the lines it added.
		CheckDestroy: expectFile(h, "/etc/modprobe.d/blacklist.conf", string(foreign)),
		Steps: []resource.TestStep{
			{
				Config: blacklistConfig(t, h, ""),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(blacklistAddr, tfjsonpath.New("builtin"), knownvalue.SetExact(builtin)),
					statecheck.ExpectKnownValue(blacklistAddr, tfjsonpath.New("modules"), knownvalue.SetSizeExact(len(conntrack.ClassicBlacklist))),
				},
				Check: func(*terraform.State) error {
					file := hostFile(t, h, "/etc/modprobe.d/blacklist.conf")
					if err := hasOurs(file); err != nil {
						return err
					}
					if !strings.HasPrefix(file, string(foreign)) {
						return fmt.Errorf("foreign lines changed:\n%s", file)
					}
					return nil
				},
			},
			{ResourceName: blacklistAddr, ImportState: true, ImportStateId: h.Addr, ImportStateVerify: true},
			{
				// Someone removes the install line of nf_conntrack: drift.
				PreConfig: func() {
					hostValue(t, h, "sed -i '/^install nf_conntrack \\/bin\\/false$/d' /etc/modprobe.d/blacklist.conf")
				},
				Config: blacklistConfig(t, h, ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(blacklistAddr, plancheck.ResourceActionUpdate),
				}},
				Check: func(*terraform.State) error { return hasOurs(hostFile(t, h, "/etc/modprobe.d/blacklist.conf")) },
			},
			{
				// A shorter list without disable: the other modules' lines go.
				Config: blacklistConfig(t, h, `modules = ["xt_state", "nf_conntrack_ftp"]
  disable = false`+unload),
				Check: expectFile(h, "/etc/modprobe.d/blacklist.conf", string(foreign)+"blacklist nf_conntrack_ftp\nblacklist xt_state\n"),
			},
		},
	})
}

func TestModuleBlacklist_badInput(t *testing.T) {
	t.Parallel()
	expectConfigErrors(t, "conntrack_module_blacklist", map[string]configCase{
		"slash":      {`modules = ["kernel/net/nf_conntrack"]`, "Invalid module name"},
		"space":      {`modules = ["nf conntrack"]`, "Invalid module name"},
		"shell":      {`modules = ["nf_conntrack;reboot"]`, "Invalid module name"},
		"empty list": {`modules = []`, "set must contain at least 1 elements"},
		"file":       {`file = "/etc/blacklist.conf"`, "must be a /etc/modprobe.d/*.conf file"},
	})
}

// The plan warns that built-in modules can be neither blacklisted nor
// unloaded, and only then: the namespace host runs the machine's kernel,
// whose conntrack may be built in or a module.
func TestAccModuleBlacklist_builtinWarning(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	summary := "Built-in modules on " + h.Addr
	diags := planDiagnostics(t, blacklistConfig(t, h, ""))
	builtin := builtinModules(t, h, conntrack.ClassicBlacklist)
	if len(builtin) == 0 {
		if d, ok := warningOf(diags, summary); ok {
			t.Fatalf("warned about built-in modules on a kernel with a modular nf_conntrack: %+v", d)
		}
		return
	}
	expectWarning(t, diags, summary, strings.Join(builtin, ", "), "built into the kernel", "connection tracking stays available")
}

// A new file replaces the resource: the lines leave the old file (whose
// other lines stay) and go into the new one.
func TestAccModuleBlacklist_fileChangeMovesLines(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	const old, moved = "/etc/modprobe.d/blacklist.conf", "/etc/modprobe.d/conntrack.conf"
	writeHostFile(t, h, old, "# site blacklist\nblacklist pcspkr\n")
	body := func(file string) string { return fmt.Sprintf("modules = [\"nf_conntrack\"]\n  file = %q", file) }
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: blacklistConfig(t, h, body(old)),
				Check:  expectFile(h, old, "# site blacklist\nblacklist pcspkr\nblacklist nf_conntrack\ninstall nf_conntrack /bin/false\n"),
			},
			{
				Config: blacklistConfig(t, h, body(moved)),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(blacklistAddr, plancheck.ResourceActionDestroyBeforeCreate),
				}},
				Check: resource.ComposeTestCheckFunc(
					expectFile(h, old, "# site blacklist\nblacklist pcspkr\n"),
					expectFile(h, moved, "blacklist nf_conntrack\ninstall nf_conntrack /bin/false\n"),
				),
			},
		},
	})
}

// A refresh names the module whose line was removed.
func TestAccModuleBlacklist_driftWarning(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	diags := driftDiagnostics(t, blacklistConfig(t, h, `modules = ["nf_conntrack", "xt_state"]`),
		func() { hostValue(t, h, "sed -i '/^install nf_conntrack /d' /etc/modprobe.d/blacklist.conf") })
	expectWarning(t, diags, "nf_conntrack is no longer disabled on "+h.Addr, "has no `install nf_conntrack /bin/false` line any more")
	if d, ok := warningOf(diags, "xt_state is no longer disabled on "+h.Addr); ok {
		t.Fatalf("warning for a module whose lines are in place: %+v", d)
	}
}
