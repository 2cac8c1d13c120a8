package provider

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// On the kernel host (a qemu guest with the stock, modular Debian kernel):
// what namespace hosts cannot show, real module loading and unloading.
func TestAccModuleBlacklist_kernelUnload(t *testing.T) {
	t.Parallel()
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
		return kernelConfig(h, kh, "conntrack_module_blacklist", "b", "unload = true\n  "+body)
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
				// A modular kernel: nothing is reported built in.
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("conntrack_module_blacklist.b", tfjsonpath.New("builtin"), knownvalue.SetExact([]knownvalue.Check{})),
				},
				Check: resource.ComposeTestCheckFunc(
					func(*terraform.State) error { return loaded("nf_conntrack", "nf_nat", "xt_CT") },
					func(*terraform.State) error {
						// blacklist + install /bin/false: loading by name fails too.
						if out, err := h.Exec(t.Context(), "modprobe nf_conntrack"); err == nil {
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

// A failed unload on a real kernel: a stateful filter rule holds
// xt_conntrack by reference count, which force cannot release (only
// removing the rule can), so rmmod fails "in use". The apply fails naming
// the module and rmmod's reason, the blacklist stays written, and once the
// rule is gone the next apply converges.
func TestAccModuleBlacklist_kernelUnloadFails(t *testing.T) {
	t.Parallel()
	h, run, kh := kernelHost(t, testhost.KernelOptions{})
	const file = "/etc/modprobe.d/blacklist.conf"
	isLoaded := func(mod string) bool {
		return strings.Contains("\n"+run("cat /proc/modules"), "\n"+mod+" ")
	}
	config := kernelConfig(h, kh, "conntrack_module_blacklist", "b", "unload = true\n  force  = true")

	const rule = "INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT"
	run("iptables -A " + rule)
	if !isLoaded("xt_conntrack") || !isLoaded("nf_conntrack") {
		t.Fatalf("the conntrack rule did not load xt_conntrack and nf_conntrack:\n%s", run("lsmod"))
	}
	// The premise: the rule's reference blocks rmmod, and no module
	// accounts for it (an empty holder list, so force has nothing to unload).
	if out, err := h.Exec(t.Context(), "rmmod xt_conntrack"); err == nil || !strings.Contains(out, "in use") {
		t.Fatalf("rmmod xt_conntrack while a rule uses it: err %v, output %q; want 'in use'", err, out)
	}
	t.Logf("/proc/modules before: %s", run("grep -E '^(xt_conntrack|nf_conntrack) ' /proc/modules"))
	before := run("cat " + file + " 2>/dev/null || true")
	wantLines := []string{"blacklist xt_conntrack", "install xt_conntrack /bin/false", "blacklist nf_conntrack", "install nf_conntrack /bin/false"}
	hasLines := func() error {
		got := "\n" + run("cat "+file) + "\n"
		for _, l := range wantLines {
			if !strings.Contains(got, "\n"+l+"\n") {
				return fmt.Errorf("%s has no %q line:\n%s", file, l, got)
			}
		}
		return nil
	}

	// The plan says so beforehand.
	expectWarning(t, planDiagnostics(t, config), "The unload will fail on "+h.Addr, "xt_conntrack has 1 reference(s) no module accounts for")

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		CheckDestroy: func(*terraform.State) error {
			if got := run("cat " + file + " 2>/dev/null || true"); got != before {
				return fmt.Errorf("destroy left lines behind:\n%s", got)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				// force passes the plan (it may unload holder modules), but
				// rmmod meets the rule's reference: xt_conntrack goes first
				// (it holds nf_conntrack) and fails, so nf_conntrack fails too.
				Config: config,
				ExpectError: errorLike(
					"Cannot unload xt_conntrack on "+h.Addr, "rmmod said:", "Module xt_conntrack is in use",
					"The blacklist is written",
					"Cannot unload nf_conntrack on "+h.Addr, "rmmod said:", "Module nf_conntrack is in use by: xt_conntrack"),
			},
			{
				// The failed unload kept the file change; the modules are
				// still loaded. Then the rule goes, and the same configuration
				// converges: the file is already right, so only the unload runs.
				PreConfig: func() {
					if err := hasLines(); err != nil {
						t.Fatalf("after the failed unload: %v", err)
					}
					if !isLoaded("xt_conntrack") || !isLoaded("nf_conntrack") {
						t.Fatalf("the failed apply reported a failure but the modules are gone:\n%s", run("lsmod"))
					}
					run("iptables -D " + rule)
				},
				Config: config,
				Check: resource.ComposeTestCheckFunc(
					resource.TestCheckResourceAttr("conntrack_module_blacklist.b", "force", "true"),
					func(*terraform.State) error { return hasLines() },
					func(*terraform.State) error {
						for _, mod := range []string{"xt_conntrack", "nf_conntrack"} {
							if isLoaded(mod) {
								return fmt.Errorf("%s is still loaded:\n%s", mod, run("lsmod"))
							}
						}
						return nil
					},
				),
			},
			{
				// Converged: nothing left to do.
				Config: config,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectEmptyPlan(),
				}},
			},
		},
	})
}

// rebuild_initramfs on the kernel host's own initramfs-tools: the
// regenerated /boot/initrd.img-$(uname -r) carries the blacklist file, byte
// for byte. (The guest boots the image's initrd from outside, so this checks
// the archive, not an early boot.) The initramfs is rebuilt whenever it was
// not built from the file's present content: when rebuild_initramfs is
// turned on after the lines were written, after a failed rebuild (a full
// /boot, the classic cause), and at destroy.
//
// The guest's initramfs.conf says MODULES=most, and update-initramfs -u then
// took 718 s under TCG here, past the provider's default command_timeout of
// 5 minutes. The test sets MODULES=list (only the modules listed in
// /etc/initramfs-tools/modules: none) in a conf.d file, which mkinitramfs
// reads after initramfs.conf: 28 s on an idle machine (MODULES=dep: 57 s).
// mkinitramfs copies every /etc/modprobe.d/*.conf whatever MODULES says
// (mkinitramfs:406 in bookworm's initramfs-tools), so the archive still
// shows the file. The provider runs its usual command, update-initramfs -u.
func TestAccModuleBlacklist_kernelRebuildInitramfs(t *testing.T) {
	t.Parallel()
	h, run, kh := kernelHost(t, testhost.KernelOptions{})
	const file = "/etc/modprobe.d/blacklist.conf"
	initrd := "/boot/initrd.img-" + run("uname -r")
	run("command -v update-initramfs unmkinitramfs >/dev/null && test -f " + initrd)
	run("echo MODULES=list > /etc/initramfs-tools/conf.d/ctt-test.conf")
	sum := func() string { return run("sha256sum " + initrd + " | cut -d' ' -f1") }
	// unpack lists the initramfs into $d and finds its copy of the file as $f.
	unpack := fmt.Sprintf(`d=$(mktemp -d) && unmkinitramfs %s "$d" || exit 1
f=$(find "$d" -path '*%s')
`, initrd, file)
	// inInitramfs is the initramfs's copy of the file, or "" if it has none.
	inInitramfs := func() string {
		return run(unpack + `if [ -n "$f" ]; then cat "$f"; fi; rm -rf "$d"`)
	}
	if got := inInitramfs(); got != "" {
		t.Fatalf("the stock initramfs already has %s:\n%s", file, got)
	}
	// matches compares the initramfs's copy with the file on disk, byte for
	// byte; a file absent on disk must be absent from the initramfs too.
	matches := func(*terraform.State) error {
		if _, err := h.Exec(t.Context(), unpack+fmt.Sprintf(`if [ -e %[1]s ]; then [ -n "$f" ] && cmp "$f" %[1]s; else [ -z "$f" ]; fi
rc=$?; rm -rf "$d"; exit $rc`, file)); err != nil {
			return fmt.Errorf("%s in %s differs from the file on disk: %v\ninitramfs:\n%s\ndisk:\n%s", file, initrd, err, inInitramfs(),
				run("cat "+file+" 2>&1 || true"))
		}
		return nil
	}
	var stepStart time.Time
	begin := func() { stepStart = time.Now() }
	lastSum := sum()
	rebuilt := func(want bool) resource.TestCheckFunc {
		return func(*terraform.State) error {
			t.Logf("step took %s (plan, apply, refresh)", time.Since(stepStart).Round(time.Second))
			now := sum()
			defer func() { lastSum = now }()
			if (now != lastSum) != want {
				return fmt.Errorf("initramfs rebuilt = %t, want %t", now != lastSum, want)
			}
			return nil
		}
	}
	noNAT := func(*terraform.State) error {
		if got := inInitramfs(); strings.Contains(got, "nf_nat") {
			return fmt.Errorf("the initramfs still blacklists nf_nat:\n%s", got)
		}
		return nil
	}
	config := func(body string) string { return kernelConfig(h, kh, "conntrack_module_blacklist", "b", body) }
	two := config(`rebuild_initramfs = true
  modules           = ["nf_conntrack", "xt_conntrack"]`)

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		CheckDestroy: func(s *terraform.State) error {
			// Destroy removed the lines and rebuilt: early boot forgets them too.
			return resource.ComposeTestCheckFunc(rebuilt(true), matches)(s)
		},
		Steps: []resource.TestStep{
			{
				// The default leaves the initramfs alone.
				PreConfig: begin,
				Config:    config(""),
				Check:     rebuilt(false),
			},
			{
				// Turned on later: the file has nothing left to change, the
				// initramfs is rebuilt all the same.
				PreConfig: begin,
				Config:    config("rebuild_initramfs = true"),
				Check:     resource.ComposeTestCheckFunc(rebuilt(true), matches),
			},
			{
				// A full /boot (a tmpfs over it, holding a copy of its files
				// with 512 KiB to spare): the file changes, the rebuild fails.
				PreConfig: func() {
					begin()
					run(`mkdir /run/ctt-boot && cp -a /boot/. /run/ctt-boot/ &&
mount -t tmpfs -o size=$(( $(du -sk /boot | cut -f1) + 512 ))k ctt-boot /boot && cp -a /run/ctt-boot/. /boot/`)
				},
				Config:      two,
				ExpectError: errorLike("Cannot rebuild the initramfs of "+h.Addr, "No space left on device", "The next apply retries the rebuild"),
			},
			{
				// Room again: the file is already right, and still the plan
				// shows the rebuild to do and the apply does it.
				PreConfig: func() {
					t.Logf("the failed step took %s", time.Since(stepStart).Round(time.Second))
					begin()
					run("umount /boot")
					if got := run("cat " + file); strings.Contains(got, "nf_nat") || !strings.Contains(got, "install xt_conntrack /bin/false") {
						t.Fatalf("the failed rebuild did not keep the file change:\n%s", got)
					}
				},
				Config: two,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("conntrack_module_blacklist.b", plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeTestCheckFunc(rebuilt(true), matches, noNAT,
					func(*terraform.State) error { begin(); return nil }), // the destroy's timing starts here
			},
		},
	})
}
