package provider

import (
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// On the kernel host: live max and hashsize on a modular conntrack, and
// `options nf_conntrack hashsize=N` taking effect when the module loads.
func TestAccLimits_kernelModuleReload(t *testing.T) {
	t.Parallel()
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
	config := kernelConfig(h, kh, "conntrack_limits", "h", "max     = 200000\n  buckets = 16384")
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

// load_module_at_boot and the default sysctl_file across a real reboot of
// a systemd guest shaped like Debian 13: no /etc/sysctl.d/99-sysctl.conf
// link, and an old /etc/sysctl.conf. /etc/sysctl.conf is refused at plan
// (systemd-sysctl would not read it: the reboot proves that too);
// systemd-modules-load loads nf_conntrack from /etc/modules-load.d (with the
// hashsize of `options nf_conntrack hashsize=`), systemd-sysctl runs after it
// and sets the max persisted in the default drop-in, so after the reboot the
// host has the declared values and the plan is empty. With the link back,
// /etc/sysctl.conf is accepted. The contrast: with load_module_at_boot =
// false and the same files, nothing loads the module at boot, so none of it
// applies, and the plan says conntrack is not active.
func TestAccLimits_kernelLoadModuleAtBoot(t *testing.T) {
	t.Parallel()
	loadModuleAtBoot(t, testhost.Bookworm)
}

// The same on a stock Debian 13 guest, which ships neither /etc/sysctl.conf
// nor the link.
func TestAccLimits_kernelLoadModuleAtBootDebian13(t *testing.T) {
	t.Parallel()
	loadModuleAtBoot(t, testhost.Trixie)
}

func loadModuleAtBoot(t *testing.T, release string) {
	h, run, kh := kernelHost(t, testhost.KernelOptions{Systemd: true, Release: release})
	const (
		maxFile, hashFile    = "/proc/sys/net/netfilter/nf_conntrack_max", "/sys/module/nf_conntrack/parameters/hashsize"
		wantMax, wantBuckets = 300000, 65536 // unlike the kernel's own values for 1 GiB, with or without hashsize=65536
		loadFile             = "/etc/modules-load.d/conntrack.conf"
	)
	loaded := func() bool { return run("grep -c '^nf_conntrack ' /proc/modules || true") != "0" }
	if loaded() {
		t.Fatal("nf_conntrack is loaded at boot before anything asked for it")
	}
	run("modprobe nf_conntrack") // apply_live needs the module: the sysctls exist only then
	// Debian 13's shape (on Debian 12: without the link it ships), and an
	// old /etc/sysctl.conf that sets a value nothing declares.
	const link, oldValue = "/etc/sysctl.d/99-sysctl.conf", "77"
	shipped := run("for f in " + link + " /etc/sysctl.conf; do [ -e $f ] && echo $f; done; true")
	if want := map[string]string{testhost.Bookworm: link + "\n/etc/sysctl.conf", testhost.Trixie: ""}[release]; shipped != want {
		t.Fatalf("Debian %s ships %q, want %q", release, shipped, want)
	}
	run("rm -f " + link + " && echo 'net.netfilter.nf_conntrack_udp_timeout = " + oldValue + "' >> /etc/sysctl.conf")
	configIn := func(loadAtBoot bool, extra string) string {
		return kernelConfig(h, kh, "conntrack_limits", "h", fmt.Sprintf(`max                 = %d
  buckets             = %d
  load_module_at_boot = %t
  %s`, wantMax, wantBuckets, loadAtBoot, extra))
	}
	config := func(loadAtBoot bool) string { return configIn(loadAtBoot, "") }
	inSysctlConf := configIn(true, `sysctl_file = "/etc/sysctl.conf"`)
	expect := func(file string, want int64) error {
		if got, _ := strconv.ParseInt(run("cat "+file), 10, 64); got != want {
			return fmt.Errorf("%s = %d, want %d", file, got, want)
		}
		return nil
	}
	listed := func() bool { return run("grep -cx nf_conntrack "+loadFile+" 2>/dev/null || true") != "0" }
	reboot := func() {
		start := time.Now()
		if err := h.Reboot(t.Context()); err != nil {
			t.Fatal(err)
		}
		t.Logf("rebooted in %s", time.Since(start).Round(100*time.Millisecond))
	}

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		CheckDestroy: func(*terraform.State) error {
			if listed() {
				return fmt.Errorf("destroy left nf_conntrack in %s", loadFile)
			}
			if got := run("grep -hE 'nf_conntrack_max|hashsize' /etc/sysctl.conf " + defaultSysctlFile + " /etc/modprobe.d/iptables.conf 2>/dev/null || true"); got != "" {
				return fmt.Errorf("destroy left lines behind: %s", got)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config:      inSysctlConf,
				ExpectError: errorLike("/etc/sysctl.conf is not read at boot on "+h.Addr, "no link there points to /etc/sysctl.conf"),
			},
			{
				Config: config(true),
				Check: func(*terraform.State) error {
					if got := run("grep -c nf_conntrack_max " + defaultSysctlFile + " || true"); got != "1" {
						return fmt.Errorf("%s does not set the max:\n%s", defaultSysctlFile, run("cat "+defaultSysctlFile+" 2>&1"))
					}
					if !listed() {
						return fmt.Errorf("%s does not list nf_conntrack:\n%s", loadFile, run("cat "+loadFile+" 2>&1 || true"))
					}
					return errors.Join(expect(maxFile, wantMax), expect(hashFile, wantBuckets))
				},
			},
			{
				// After a reboot the module is back, with the persisted hash
				// size and max; nothing is left to apply.
				PreConfig: func() {
					reboot()
					if !loaded() {
						t.Fatalf("nf_conntrack is not loaded after the reboot:\n%s", run("systemctl status systemd-modules-load --no-pager 2>&1; lsmod"))
					}
					if err := errors.Join(expect(hashFile, wantBuckets), expect(maxFile, wantMax)); err != nil {
						t.Fatalf("after the reboot: %v", err)
					}
					if got := run("cat /proc/sys/net/netfilter/nf_conntrack_udp_timeout"); got == oldValue {
						t.Fatalf("systemd-sysctl applied /etc/sysctl.conf without a link: the refusal above would be wrong")
					}
				},
				Config: config(true),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectEmptyPlan(),
				}},
			},
			{
				// Through a link, systemd-sysctl reads /etc/sysctl.conf: accepted
				// (the plan moves the lines there).
				PreConfig:          func() { run("ln -s ../sysctl.conf " + link) },
				Config:             inSysctlConf,
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
			{
				// The contrast: the module is no longer listed ...
				Config: config(false),
				Check: func(*terraform.State) error {
					if listed() {
						return fmt.Errorf("%s still lists nf_conntrack", loadFile)
					}
					return nil
				},
			},
			{
				// ... so after a reboot nothing loads it, the persisted values
				// cannot apply, and the plan refuses to apply them live.
				PreConfig: func() {
					reboot()
					if loaded() {
						t.Fatalf("nf_conntrack is loaded after a reboot without it in %s:\n%s", loadFile, run("lsmod"))
					}
					if got := run("grep -c nf_conntrack_max " + defaultSysctlFile + " || true"); got != "1" {
						t.Fatalf("%s should still set the max (that is the point of the contrast):\n%s", defaultSysctlFile, run("cat "+defaultSysctlFile))
					}
				},
				Config:      config(false),
				ExpectError: errorLike("Connection tracking is not active on "+h.Addr, "Load it"),
			},
		},
	})
}
