package provider

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

const limitsAddr = "conntrack_limits.h"

// A sysctl.conf that other people and tools also edit: comments of both
// kinds, foreign keys, no spaces around one '=', and a managed key twice.
const foreignSysctl = "# fleet defaults, managed by hand\n" +
	"kernel.sysrq = 0\n" +
	"net.netfilter.nf_conntrack_tcp_timeout_established=86400\n" +
	"; vendor comment\n" +
	"net.ipv4.ip_forward = 1\n" +
	"net.netfilter.nf_conntrack_tcp_timeout_established = 7\n" +
	"vm.swappiness=10"

// The same file after the resource manages established = 3600 and udp_timeout
// = 45: the first assignment is rewritten in place, the duplicate goes, the
// new key is appended, and every other byte stays.
const convergedSysctl = "# fleet defaults, managed by hand\n" +
	"kernel.sysrq = 0\n" +
	"net.netfilter.nf_conntrack_tcp_timeout_established=3600\n" +
	"; vendor comment\n" +
	"net.ipv4.ip_forward = 1\n" +
	"vm.swappiness=10\n" +
	"net.netfilter.nf_conntrack_udp_timeout = 45\n"

const foreignModprobe = "# iptables modules\r\noptions nf_conntrack nf_conntrack_helper=0\r\nblacklist nf_nat_sip\r\n"

func limitsConfig(t *testing.T, h *testhost.Host, body string) string {
	return providerBlock(t, []*testhost.Host{h}, "") + fmt.Sprintf(`
resource "conntrack_limits" "h" {
  host = %q
  %s
}`, h.Addr, body)
}

func TestAccLimits_timeoutsLifecycleAndDrift(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	writeHostFile(t, h, defaultSysctlFile, foreignSysctl)
	writeHostFile(t, h, "/etc/modprobe.d/iptables.conf", foreignModprobe)
	hostValue(t, h, "chmod 0640 "+defaultSysctlFile+" && chown root:adm "+defaultSysctlFile)
	runningMax := hostInt(t, h, "cat /proc/sys/net/netfilter/nf_conntrack_max")
	est := "net.netfilter.nf_conntrack_tcp_timeout_established"
	config := limitsConfig(t, h, `
  tcp_timeout_established = 3600
  sysctls = { udp_timeout = 45 }`)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		CheckDestroy: resource.ComposeTestCheckFunc(
			// Destroy removes the owned lines and keeps the rest and the running values.
			expectFile(h, defaultSysctlFile, "# fleet defaults, managed by hand\nkernel.sysrq = 0\n; vendor comment\nnet.ipv4.ip_forward = 1\nvm.swappiness=10\n"),
			expectFile(h, "/etc/modprobe.d/iptables.conf", foreignModprobe),
			expectProc(h, est, 1800),
		),
		Steps: []resource.TestStep{
			{
				Config: config,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(limitsAddr, tfjsonpath.New("tcp_timeout_established"), knownvalue.Int64Exact(3600)),
					statecheck.ExpectKnownValue(limitsAddr, tfjsonpath.New("sysctls"), knownvalue.MapExact(map[string]knownvalue.Check{"udp_timeout": knownvalue.Int64Exact(45)})),
					// Unmanaged: the host's own value, untouched.
					statecheck.ExpectKnownValue(limitsAddr, tfjsonpath.New("max"), knownvalue.Int64Exact(runningMax)),
					statecheck.ExpectKnownValue(limitsAddr, tfjsonpath.New("load_module_at_boot"), knownvalue.Bool(false)),
				},
				Check: resource.ComposeTestCheckFunc(
					expectProc(h, est, 3600),
					expectProc(h, "net.netfilter.nf_conntrack_udp_timeout", 45),
					expectFile(h, defaultSysctlFile, convergedSysctl),
					// Nothing owned there: not rewritten at all.
					expectFile(h, "/etc/modprobe.d/iptables.conf", foreignModprobe),
					func(*terraform.State) error {
						if got := hostValue(t, h, "stat -c '%a %U %G' "+defaultSysctlFile); got != "640 root adm" {
							return fmt.Errorf("mode/owner not kept: %s", got)
						}
						return nil
					},
				),
			},
			{
				ResourceName:            limitsAddr,
				ImportState:             true,
				ImportStateId:           h.Addr,
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"sysctls"},
			},
			{
				// Drift in the running kernel.
				PreConfig: func() { hostValue(t, h, "echo 100 > /proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established") },
				Config:    config,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(limitsAddr, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(limitsAddr, tfjsonpath.New("tcp_timeout_established"), knownvalue.Int64Exact(3600)),
				}},
				Check: expectProc(h, est, 3600),
			},
			{
				// Drift in the file: someone edits the managed line.
				PreConfig: func() { hostValue(t, h, "sed -i 's/_established=3600/_established=99/' "+defaultSysctlFile) },
				Config:    config,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(limitsAddr, plancheck.ResourceActionUpdate),
				}},
				Check: expectFile(h, defaultSysctlFile, convergedSysctl),
			},
			{
				// Drift: the file is deleted.
				PreConfig: func() { hostValue(t, h, "rm "+defaultSysctlFile) },
				Config:    config,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(limitsAddr, plancheck.ResourceActionUpdate),
				}},
				Check: expectFile(h, defaultSysctlFile, "net.netfilter.nf_conntrack_tcp_timeout_established = 3600\nnet.netfilter.nf_conntrack_udp_timeout = 45\n"),
			},
			{
				// Update: a new value, and udp_timeout released (its line goes, its running value stays).
				PreConfig: func() { writeHostFile(t, h, defaultSysctlFile, convergedSysctl) },
				Config:    limitsConfig(t, h, `tcp_timeout_established = 1800`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(limitsAddr, plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeTestCheckFunc(
					expectProc(h, est, 1800),
					expectProc(h, "net.netfilter.nf_conntrack_udp_timeout", 45),
					expectFile(h, defaultSysctlFile, strings.Replace(strings.Replace(convergedSysctl, "=3600", "=1800", 1), "net.netfilter.nf_conntrack_udp_timeout = 45\n", "", 1)),
				),
			},
		},
	})
}

// max and buckets are global: read-only in a network namespace. Persisting
// them works; applying them live fails at plan time, naming the key.
func TestAccLimits_globalSettingsInNamespace(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	writeHostFile(t, h, "/etc/modprobe.d/iptables.conf", foreignModprobe)
	runningMax := hostInt(t, h, "cat /proc/sys/net/netfilter/nf_conntrack_max")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      limitsConfig(t, h, "max = 300000"),
				ExpectError: errorLike("max cannot be changed live on "+h.Addr, "net.netfilter.nf_conntrack_max is global", "apply_live = false"),
			},
			{
				Config: limitsConfig(t, h, "max = 300000\n  buckets = 37500\n  apply_live = false"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(limitsAddr, tfjsonpath.New("max"), knownvalue.Int64Exact(300000)),
					statecheck.ExpectKnownValue(limitsAddr, tfjsonpath.New("buckets"), knownvalue.Int64Exact(37500)),
				},
				Check: resource.ComposeTestCheckFunc(
					expectProc(h, "net.netfilter.nf_conntrack_max", runningMax),
					expectFile(h, "/etc/modprobe.d/iptables.conf", foreignModprobe+"options nf_conntrack hashsize=37500\r\n"),
					// A new drop-in of its own.
					expectFile(h, defaultSysctlFile, "net.netfilter.nf_conntrack_max = 300000\n"),
				),
			},
			{
				// With apply_live = false the persisted value is what drifts.
				PreConfig: func() { hostValue(t, h, "sed -i 's/hashsize=37500/hashsize=99/' /etc/modprobe.d/iptables.conf") },
				Config:    limitsConfig(t, h, "max = 300000\n  buckets = 37500\n  apply_live = false"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(limitsAddr, plancheck.ResourceActionUpdate),
				}},
				Check: expectFile(h, "/etc/modprobe.d/iptables.conf", foreignModprobe+"options nf_conntrack hashsize=37500\r\n"),
			},
		},
	})
}

// A sysctl_file the host would not read at boot is refused at plan: here a
// /dev/null link masks the default drop-in's name, as an admin masks a
// vendor file. Nothing is written, the mask stays.
func TestAccLimits_sysctlFileMaskedAtBoot(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	hostValue(t, h, "ln -s /dev/null "+defaultSysctlFile)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config:      limitsConfig(t, h, "tcp_timeout_established = 3600"),
			ExpectError: errorLike(defaultSysctlFile+" is not read at boot on "+h.Addr, "is a link to /dev/null", "Persist them in a file under /etc/sysctl.d/"),
		}},
	})
	if got := hostValue(t, h, "readlink "+defaultSysctlFile); got != "/dev/null" {
		t.Fatalf("the mask changed: %q", got)
	}
	if got := hostValue(t, h, "cat /proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established"); got == "3600" {
		t.Fatal("the refused plan set the value")
	}
}

// Bad input fails at plan time, pointing at the attribute; nothing is written.
func TestAccLimits_badInput(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	writeHostFile(t, h, defaultSysctlFile, foreignSysctl)
	cases := map[string]struct{ body, want string }{
		"zero max":          {"max = 0", "value must be between 1"},
		"zero buckets":      {"buckets = 0\n apply_live = false", "value must be between 1"},
		"too many buckets":  {"buckets = 1073741825\n apply_live = false", "value must be between 1"},
		"negative timeout":  {"tcp_timeout_established = -5", "value must be between 1"},
		"overflow":          {"max = 4294967296", "value must be between 1"},
		"named in sysctls":  {"sysctls = { max = 5 }", "Setting managed by its own attribute"},
		"unknown key":       {"sysctls = { no_such_knob = 1 }", "has no net.netfilter.nf_conntrack_no_such_knob"},
		"file outside /etc": {`sysctl_file = "/tmp/x.conf"`, "must be /etc/sysctl.conf or a /etc/sysctl.d/*.conf file"},
		"modprobe dir":      {`modprobe_file = "/etc/modprobe.d"`, "must be a /etc/modprobe.d/*.conf file"},
		"no systemd":        {"tcp_timeout_established = 10\n load_module_at_boot = true", "does not run systemd"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			resource.Test(t, resource.TestCase{
				ProtoV6ProviderFactories: protoV6ProviderFactories,
				Steps: []resource.TestStep{{
					Config:      limitsConfig(t, h, tc.body),
					ExpectError: errorLike(tc.want),
				}},
			})
		})
	}
	if got := hostFile(t, h, defaultSysctlFile); got != foreignSysctl {
		t.Fatalf("bad input changed the file:\n%q", got)
	}
	// Two resources on one host would fight over the same keys.
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: limitsConfig(t, h, "tcp_timeout_established = 10") + fmt.Sprintf(`
resource "conntrack_limits" "again" {
  host                    = %q
  tcp_timeout_established = 20
}`, h.Addr),
			ExpectError: errorLike("Two conntrack_limits resources manage one host"),
		}},
	})
}

func TestAccLimits_withoutConntrack(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{NoConntrack: true})
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      limitsConfig(t, h, "tcp_timeout_established = 600"),
				ExpectError: errorLike("Connection tracking is not active on "+h.Addr, "apply_live = false"),
			},
			{
				Config: limitsConfig(t, h, "tcp_timeout_established = 600\n  apply_live = false"),
				Check: func(*terraform.State) error {
					if !strings.Contains(hostFile(t, h, defaultSysctlFile), "net.netfilter.nf_conntrack_tcp_timeout_established = 600\n") {
						return fmt.Errorf("not persisted")
					}
					return nil
				},
			},
		},
	})
}

// The plan warns when a file read later at boot would undo a managed value.
func TestAccLimits_bootOverrideWarning(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	writeHostFile(t, h, "/etc/sysctl.d/99-zz-late.conf", "net.netfilter.nf_conntrack_tcp_timeout_established = 999\n")
	expectWarning(t, planDiagnostics(t, limitsConfig(t, h, "tcp_timeout_established = 3600")),
		"net.netfilter.nf_conntrack_tcp_timeout_established is overridden at boot on "+h.Addr, "/etc/sysctl.d/99-zz-late.conf")
}

// A refresh says which side drifted: the running kernel or the file.
func TestAccLimits_driftWarnings(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	diags := driftDiagnostics(t, limitsConfig(t, h, "tcp_timeout_established = 3600\n  tcp_timeout_time_wait = 30"), func() {
		hostValue(t, h, `echo 432000 > /proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established
sed -i 's/^net.netfilter.nf_conntrack_tcp_timeout_time_wait = 30$/net.netfilter.nf_conntrack_tcp_timeout_time_wait = 60/' `+defaultSysctlFile)
	})
	expectWarning(t, diags, "net.netfilter.nf_conntrack_tcp_timeout_established drifted on "+h.Addr+" (running value)",
		"The running kernel has net.netfilter.nf_conntrack_tcp_timeout_established = 432000; the declared value is 3600")
	expectWarning(t, diags, "net.netfilter.nf_conntrack_tcp_timeout_time_wait drifted on "+h.Addr+" (persisted value)",
		"The persisted file sets net.netfilter.nf_conntrack_tcp_timeout_time_wait = 60; the declared value is 30")
}

// buckets is judged by the host's kernel. On Linux >= 5.15 (the machine's
// kernel: namespace hosts share it) the kernel's own pairing buckets = max
// and more buckets than max plan without a word; too few buckets for max
// warn about the load factor, naming the host and its kernel.
func TestAccLimits_sizingByKernel(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	release := hostValue(t, h, "uname -r")
	rule := conntrack.SizingFor(release, hostValue(t, h, "head -n 1 /proc/net/stat/nf_conntrack | grep -c -w chainlength || true") == "1")
	if rule != conntrack.SizingModern {
		t.Skipf("%s sizes by the classic rule; this test is about kernels >= 5.15 (the classic rule has unit tests)", release)
	}
	runningMax := hostInt(t, h, "cat /proc/sys/net/netfilter/nf_conntrack_max")
	highLoad := "buckets gives a high load factor on " + h.Addr
	for _, tc := range []struct {
		name, body string
		warn       bool
	}{
		{"buckets = max, the kernel's default", fmt.Sprintf("buckets = %d", runningMax), false},
		{"buckets = 2 x max", fmt.Sprintf("buckets = %d", 2*runningMax), false},
		{"declared max, more buckets than max", "max = 1000\n  buckets = 2000", false},
		{"declared max, max / 4 (load factor 8)", "max = 4000\n  buckets = 1000", false},
		{"the article's max / 8 of the running max", fmt.Sprintf("buckets = %d", runningMax/8), true},
		{"declared max, load factor 16", "max = 6799\n  buckets = 849", true},
	} {
		diags := planDiagnostics(t, limitsConfig(t, h, tc.body+"\n  apply_live = false"))
		for _, d := range diags {
			if d.Severity == "error" || d.Summary == "buckets outside the usual range" || (!tc.warn && d.Summary == highLoad) {
				t.Errorf("%s: unexpected %s %q: %s", tc.name, d.Severity, d.Summary, d.Detail)
			}
		}
		if tc.warn {
			d, ok := warningOf(diags, highLoad)
			if !ok {
				t.Errorf("%s: no warning %q; diagnostics: %+v", tc.name, highLoad, diags)
			} else if !strings.Contains(d.Detail, "runs Linux "+release) || !strings.Contains(d.Detail, "2 x max / buckets") {
				t.Errorf("%s: warning detail %q", tc.name, d.Detail)
			}
		}
	}
	if got := hostValue(t, h, "cat /etc/modprobe.d/iptables.conf 2>/dev/null || echo absent"); got != "absent" {
		t.Fatalf("a plan wrote the modprobe file: %q", got)
	}
}

// The sizing warnings by rule, worded with the numbers of the case.
func TestCheckBuckets(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rule           conntrack.SizingRule
		buckets, max   int64
		summary, words string
	}{
		{conntrack.SizingModern, 262144, 262144, "", ""},
		{conntrack.SizingModern, 1 << 20, 262144, "", ""},
		{conntrack.SizingModern, 32768, 262144, "buckets gives a high load factor on web1",
			"2 x max / buckets = 16 entries in each hash chain.*web1 runs Linux 6.12.117.*buckets = max = 262144.*at least max / 4 = 65536"},
		{conntrack.SizingClassic, 32768, 262144, "", ""},
		{conntrack.SizingClassic, 262144, 262144, "buckets outside the usual range", "web1 runs Linux 4.19.0, older than 5.15.*max / 8 = 32768 and max / 2 = 131072"},
		{conntrack.SizingClassic, 1000, 262144, "buckets outside the usual range", "1000 makes lookups slower"},
	} {
		release := "6.12.117"
		if tc.rule == conntrack.SizingClassic {
			release = "4.19.0"
		}
		var diags diag.Diagnostics
		checkBuckets(tc.rule, release, "web1", tc.buckets, tc.max, &diags)
		switch {
		case tc.summary == "" && len(diags) != 0:
			t.Errorf("%s %d/%d: unexpected %v", tc.rule, tc.buckets, tc.max, diags)
		case tc.summary != "" && (len(diags) != 1 || diags[0].Severity() != diag.SeverityWarning || diags[0].Summary() != tc.summary ||
			!regexp.MustCompile(tc.words).MatchString(diags[0].Detail())):
			t.Errorf("%s %d/%d: got %v, want warning %q matching %q", tc.rule, tc.buckets, tc.max, diags, tc.summary, tc.words)
		}
	}
}

// A live change of buckets on a busy host warns about the rehash; a quiet
// host, an unchanged count or a namespace (where the plan fails anyway)
// does not.
func TestCheckResize(t *testing.T) {
	t.Parallel()
	i := func(v int64) *int64 { return &v }
	yes, no := true, false
	for _, tc := range []struct {
		name    string
		facts   conntrack.Facts
		buckets int64
		warn    bool
	}{
		{"busy host", conntrack.Facts{InitialNetns: &yes, Count: i(250000), Buckets: i(65536)}, 262144, true},
		{"at the bar", conntrack.Facts{InitialNetns: &yes, Count: i(conntrack.ResizeWarnCount), Buckets: i(65536)}, 262144, true},
		{"quiet host", conntrack.Facts{InitialNetns: &yes, Count: i(conntrack.ResizeWarnCount - 1), Buckets: i(65536)}, 262144, false},
		{"no change", conntrack.Facts{InitialNetns: &yes, Count: i(250000), Buckets: i(262144)}, 262144, false},
		{"netns unknown, busy", conntrack.Facts{Count: i(250000), Buckets: i(65536)}, 262144, true},
		{"namespace", conntrack.Facts{InitialNetns: &no, Count: i(250000), Buckets: i(65536)}, 262144, false},
	} {
		var diags diag.Diagnostics
		checkResize("web1", tc.facts, tc.buckets, &diags)
		switch {
		case !tc.warn && len(diags) != 0:
			t.Errorf("%s: unexpected %v", tc.name, diags)
		case tc.warn && (len(diags) != 1 || diags[0].Summary() != "Resizing the hash table of web1 live" ||
			!strings.Contains(diags[0].Detail(), fmt.Sprintf("web1 tracks %d connections now. Changing buckets from %d to %d live", *tc.facts.Count, *tc.facts.Buckets, tc.buckets))):
			t.Errorf("%s: got %v", tc.name, diags)
		}
	}
}

// Where the plan cannot read the host (its address comes from another
// resource), buckets against max is not judged: no error for more buckets
// than max (the old rule refused it before any host was read), no warning.
func TestAccLimits_sizingUnknownHost(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	config := providerBlock(t, []*testhost.Host{h}, "") + fmt.Sprintf(`
resource "terraform_data" "addr" {
  input = %q
}
resource "conntrack_limits" "more" {
  host       = terraform_data.addr.output
  max        = 1000
  buckets    = 2000
  apply_live = false
}
resource "conntrack_limits" "fewer" {
  host       = terraform_data.addr.output
  port       = 2222
  max        = 100000
  buckets    = 10
  apply_live = false
}`, h.Addr)
	for _, d := range planDiagnostics(t, config) {
		t.Errorf("unexpected %s %q: %s", d.Severity, d.Summary, d.Detail)
	}
}
