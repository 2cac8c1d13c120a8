package provider

import (
	"fmt"
	"net"
	"os"
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

const notrackAddr = "conntrack_notrack_rule.r"

// A real-world rules.v4 with a raw table of its own (CT --notrack rules,
// user chains): every byte of it must survive.
func realRules(t *testing.T) string {
	b, err := os.ReadFile("../conffile/iptables/testdata/home-router-raw-ct-notrack.v4")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func notrackConfig(t *testing.T, h *testhost.Host, body string) string {
	return providerBlock(t, []*testhost.Host{h}, "") + fmt.Sprintf(`
resource "conntrack_notrack_rule" "r" {
  host = %q
  %s
}`, h.Addr, body)
}

// withoutOurs drops the lines this provider owns.
func withoutOurs(s string) string {
	var kept []string
	for _, l := range strings.SplitAfter(s, "\n") {
		if !strings.Contains(l, "conntrack-tf:") {
			kept = append(kept, l)
		}
	}
	return strings.Join(kept, "")
}

func liveRaw(t *testing.T, h *testhost.Host) string { return hostValue(t, h, "iptables-save -t raw") }

func expectLiveRules(t *testing.T, h *testhost.Host, want ...string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		raw := liveRaw(t, h)
		if got := strings.Count(raw, "conntrack-tf:"); got != len(want) {
			return fmt.Errorf("%d owned rules live, want %d:\n%s", got, len(want), raw)
		}
		for _, w := range want {
			if !strings.Contains(raw, w) {
				return fmt.Errorf("no live rule with %q:\n%s", w, raw)
			}
		}
		return nil
	}
}

func TestAccNotrack_lifecycleAndDrift(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	original := realRules(t)
	hostValue(t, h, "mkdir -p /etc/iptables")
	writeHostFile(t, h, "/etc/iptables/rules.v4", original)
	someoneElses := "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 443 -j ACCEPT\nCOMMIT\n"
	config := notrackConfig(t, h, `protocol = "tcp"
  port     = "8080"
  comment  = "web cache"`)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		CheckDestroy: resource.ComposeTestCheckFunc(
			expectLiveRules(t, h),
			expectFile(h, "/etc/iptables/rules.v4", someoneElses+"*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"),
		),
		Steps: []resource.TestStep{
			{
				Config: config,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(notrackAddr, tfjsonpath.New("rules_file"), knownvalue.StringExact("/etc/iptables/rules.v4")),
					statecheck.ExpectKnownValue(notrackAddr, tfjsonpath.New("id"), knownvalue.StringExact(h.Addr+",4,tcp,8080,,")),
				},
				Check: resource.ComposeTestCheckFunc(
					expectLiveRules(t, h, "-A PREROUTING -p tcp -m tcp --dport 8080", "-A OUTPUT -p tcp -m tcp --sport 8080"),
					func(*terraform.State) error {
						file := hostFile(t, h, "/etc/iptables/rules.v4")
						if strings.Count(file, "conntrack-tf:") != 2 || !strings.Contains(file, `--comment "conntrack-tf:`) {
							return fmt.Errorf("rules not persisted:\n%s", file)
						}
						if withoutOurs(file) != original {
							return fmt.Errorf("foreign bytes changed")
						}
						return nil
					},
				),
			},
			{ResourceName: notrackAddr, ImportState: true, ImportStateId: h.Addr + ",4,tcp,8080,,", ImportStateVerify: true},
			{
				PreConfig: func() {
					hostValue(t, h, "iptables -t raw -S PREROUTING | grep conntrack-tf | sed 's/^-A/-D/' | xargs -L1 iptables -t raw")
				},
				Config: config,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(notrackAddr, plancheck.ResourceActionUpdate),
				}},
				Check: expectLiveRules(t, h, "--dport 8080", "--sport 8080"),
			},
			{
				PreConfig: func() { hostValue(t, h, "sed -i '/conntrack-tf/d' /etc/iptables/rules.v4") },
				Config:    config,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(notrackAddr, plancheck.ResourceActionUpdate),
				}},
				Check: func(*terraform.State) error {
					if got := strings.Count(hostFile(t, h, "/etc/iptables/rules.v4"), "conntrack-tf:"); got != 2 {
						return fmt.Errorf("%d rules in the file, want 2", got)
					}
					return nil
				},
			},
			{
				// Someone rewrites the file with their own rules: theirs stay, ours come back.
				PreConfig: func() { writeHostFile(t, h, "/etc/iptables/rules.v4", someoneElses) },
				Config:    config,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(notrackAddr, plancheck.ResourceActionUpdate),
				}},
				Check: func(*terraform.State) error {
					file := hostFile(t, h, "/etc/iptables/rules.v4")
					if !strings.HasPrefix(file, someoneElses+"*raw\n") || strings.Count(file, "conntrack-tf:") != 2 {
						return fmt.Errorf("got:\n%s", file)
					}
					return nil
				},
			},
			{
				// The comment changes in place, on both sides.
				Config: notrackConfig(t, h, `protocol = "tcp"
  port     = "8080"
  comment  = "proxy"`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(notrackAddr, plancheck.ResourceActionUpdate),
				}},
				Check: expectLiveRules(t, h, "--dport 8080 -m comment --comment \"conntrack-tf:d8b2858751ae proxy\"", "--sport 8080 -m comment --comment \"conntrack-tf:d8b2858751ae proxy\""),
			},
		},
	})
}

// Packets to a NOTRACK'd port never enter the conntrack table; others do.
func TestAccNotrack_trafficIsNotTracked(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	// A stateful rule turns tracking on; a listener on each port takes real connections.
	hostValue(t, h, "mkdir -p /etc/iptables && iptables -A INPUT -m conntrack --ctstate INVALID -j DROP && "+
		"for p in 8080 9090; do setsid busybox nc -l -p $p </dev/null >/dev/null 2>&1 & done; sleep 0.2")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: notrackConfig(t, h, `protocol = "tcp"
  port     = "8080"`),
			Check: func(*terraform.State) error {
				for _, port := range []string{"8080", "9090"} {
					c, err := net.DialTimeout("tcp", net.JoinHostPort(h.Addr, port), time.Second)
					if err != nil {
						return fmt.Errorf("connect to %s: %v", port, err)
					}
					defer c.Close() // open while the table is read
				}
				table := hostValue(t, h, "cat /proc/net/nf_conntrack")
				if strings.Contains(table, "dport=8080") {
					return fmt.Errorf("port 8080 is tracked:\n%s", table)
				}
				if !strings.Contains(table, "dport=9090") {
					return fmt.Errorf("port 9090 should be tracked:\n%s", table)
				}
				return nil
			},
		}},
	})
}

// iptables-legacy, the NOTRACK target, and the RHEL layout.
func TestAccNotrack_legacyBackendAndRHELLayout(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	for _, tool := range []string{"iptables", "iptables-save", "iptables-restore"} {
		hostValue(t, h, fmt.Sprintf("ln -sf /usr/sbin/%s /etc/alternatives/%s", strings.Replace(tool, "iptables", "iptables-legacy", 1), tool))
	}
	if v := hostValue(t, h, "iptables -V"); !strings.Contains(v, "legacy") {
		t.Fatalf("not legacy: %s", v)
	}
	hostValue(t, h, "mkdir -p /etc/sysconfig")
	stock, err := os.ReadFile("../conffile/iptables/testdata/rhel7-stock-sysconfig-iptables")
	if err != nil {
		t.Fatal(err)
	}
	writeHostFile(t, h, "/etc/sysconfig/iptables", string(stock))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: notrackConfig(t, h, `protocol   = "udp"
  port       = "53"
  source     = "10.200.0.0/16"
  target     = "NOTRACK"
  rules_file = "/etc/sysconfig/iptables"`),
			Check: resource.ComposeTestCheckFunc(
				expectLiveRules(t, h, "-A PREROUTING -s 10.200.0.0/16 -p udp -m udp --dport 53", "-j NOTRACK"),
				func(*terraform.State) error {
					file := hostFile(t, h, "/etc/sysconfig/iptables")
					if withoutOurs(file) != string(stock)+"*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n" {
						return fmt.Errorf("file:\n%s", file)
					}
					return nil
				},
			),
		}},
	})
}

// Ten rules applied in parallel on one host: one consistent file and rule set.
func TestAccNotrack_tenInParallel(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	hostValue(t, h, "mkdir -p /etc/iptables")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: providerBlock(t, []*testhost.Host{h}, "") + fmt.Sprintf(`
resource "conntrack_notrack_rule" "many" {
  count    = 10
  host     = %q
  protocol = "tcp"
  port     = tostring(8001 + count.index)
}`, h.Addr),
			Check: func(*terraform.State) error {
				file, raw := hostFile(t, h, "/etc/iptables/rules.v4"), liveRaw(t, h)
				for p := 8001; p <= 8010; p++ {
					for _, s := range []string{file, raw} {
						if strings.Count(s, fmt.Sprintf("--dport %d ", p)) != 1 || strings.Count(s, fmt.Sprintf("--sport %d ", p)) != 1 {
							return fmt.Errorf("port %d not exactly once in:\n%s", p, s)
						}
					}
				}
				if strings.Count(file, "*raw") != 1 || strings.Count(file, "COMMIT") != 1 {
					return fmt.Errorf("file:\n%s", file)
				}
				return nil
			},
		}},
	})
}

// A rule that cuts SSH is rolled back: the apply fails, and the host is
// reachable again with its old ruleset and its old rules file.
func TestAccNotrack_lockoutIsRolledBack(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	hostValue(t, h, "mkdir -p /etc/iptables && printf '# before\\n' > /etc/iptables/rules.v4 && "+
		"iptables -P INPUT DROP && iptables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT && "+
		"iptables -A INPUT -p tcp --dport 22 -m conntrack --ctstate NEW -j ACCEPT")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: notrackConfig(t, h, `protocol         = "tcp"
  port             = "22"
  rollback_timeout = 8`),
			ExpectError: errorLike("cut SSH to " + h.Addr),
		}},
	})
	if got := hostFile(t, h, "/etc/iptables/rules.v4"); got != "# before\n" {
		t.Fatalf("rules file not restored: %q", got)
	}
	if raw := liveRaw(t, h); strings.Contains(raw, "conntrack-tf:") {
		t.Fatalf("rule still live:\n%s", raw)
	}
	out, err := h.Exec(t.Context(), "iptables -S INPUT")
	if err != nil || !strings.Contains(out, "-P INPUT DROP") {
		t.Fatalf("filter table not restored: %s %v", out, err)
	}
}

func TestNotrack_badInput(t *testing.T) {
	t.Parallel()
	cases := map[string]configCase{
		"port 0":          {`protocol = "tcp"` + "\n" + `port = "0"`, "ports are 1 to 65535"},
		"port 65536":      {`protocol = "tcp"` + "\n" + `port = "65536"`, "ports are 1 to 65535"},
		"backwards range": {`protocol = "tcp"` + "\n" + `port = "5:3"`, "runs backwards"},
		"port with all":   {`protocol = "all"` + "\n" + `port = "80"`, "port needs a protocol"},
		"bad cidr":        {`protocol = "tcp"` + "\n" + `source = "10.0.0.300/8"`, "not an address or CIDR prefix"},
		"v4 cidr for v6":  {`protocol = "tcp"` + "\n" + `ip_version = 6` + "\n" + `source = "10.0.0.0/8"`, "not an IPv6 address"},
		"quote":           {`protocol = "tcp"` + "\n" + `comment = "a\"b"`, "Invalid comment"},
		"newline":         {`protocol = "tcp"` + "\n" + `comment = "a\nb"`, "Invalid comment"},
		"shell":           {`protocol = "tcp"` + "\n" + `comment = "$(reboot)"`, "Invalid comment"},
		"bad chain":       {`protocol = "tcp"` + "\n" + `chains = ["INPUT"]`, "value must be one of"},
		"bad protocol":    {`protocol = "icmp"`, "value must be one of"},
	}
	expectConfigErrors(t, "conntrack_notrack_rule", cases)
}

// With ensure_untracked_accept, even SSH's own port can be untracked on a
// host that drops by default: the accept rule goes first in INPUT.
func TestAccNotrack_ensureUntrackedAccept(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	hostValue(t, h, "mkdir -p /etc/iptables && printf '*filter\\n:INPUT DROP [0:0]\\n-A INPUT -j DROP\\nCOMMIT\\n' > /etc/iptables/rules.v4 && "+
		"iptables -P INPUT DROP && iptables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT && "+
		"iptables -A INPUT -p tcp --dport 22 -m conntrack --ctstate NEW -j ACCEPT")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		CheckDestroy: func(*terraform.State) error {
			if s := hostValue(t, h, "iptables -S INPUT"); strings.Contains(s, "UNTRACKED") {
				return fmt.Errorf("accept rule left behind:\n%s", s)
			}
			return nil
		},
		Steps: []resource.TestStep{{
			Config: notrackConfig(t, h, `protocol                = "tcp"
  port                    = "22"
  ensure_untracked_accept = true
  rollback_timeout        = 8`),
			Check: func(*terraform.State) error {
				first := strings.Split(hostValue(t, h, "iptables -S INPUT"), "\n")[1]
				if !strings.Contains(first, "--ctstate UNTRACKED") || !strings.HasSuffix(first, "-j ACCEPT") {
					return fmt.Errorf("first INPUT rule: %s", first)
				}
				file := hostFile(t, h, "/etc/iptables/rules.v4")
				if !strings.Contains(file, ":INPUT DROP [0:0]\n-A INPUT -m conntrack --ctstate UNTRACKED") {
					return fmt.Errorf("the file's accept rule is not first:\n%s", file)
				}
				return nil
			},
		}},
	})
}

// The plan warns about the UNTRACKED trap: a filter table that drops by
// default and accepts by state drops what NOTRACK marks untracked.
func TestAccNotrackRule_untrackedTrapWarning(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	hostValue(t, h, `mkdir -p /etc/iptables
iptables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
iptables -A INPUT -p tcp --dport 22 -j ACCEPT
iptables -P INPUT DROP`)
	summary := "Untracked packets will be dropped on " + h.Addr
	expectWarning(t, planDiagnostics(t, notrackConfig(t, h, `protocol = "udp"
  port     = "53"`)), summary, "ensure_untracked_accept = true")
	if d, ok := warningOf(planDiagnostics(t, notrackConfig(t, h, `protocol = "udp"
  port     = "53"
  ensure_untracked_accept = true`)), summary); ok {
		t.Fatalf("warned although ensure_untracked_accept is set: %+v", d)
	}
}

// A refresh says the rule is gone from the running firewall, not the file.
func TestAccNotrackRule_driftWarning(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	hostValue(t, h, "mkdir -p /etc/iptables")
	diags := driftDiagnostics(t, notrackConfig(t, h, `protocol = "udp"
  port     = "53"`), func() { hostValue(t, h, "iptables -t raw -F") })
	expectWarning(t, diags, "NOTRACK rule missing from the running firewall of "+h.Addr, "is in /etc/iptables/rules.v4 but not in the running raw table")
}

// A host without the iptables command (RHEL 10, a minimal image: nftables
// only; here the alternatives link is gone, so `iptables` resolves to
// nothing) fails at plan, pointing to the nft resource, before anything is
// written; the same host takes conntrack_nft_notrack_rule.
func TestAccNotrack_hostWithoutIptables(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	hostValue(t, h, "rm /etc/alternatives/iptables /etc/alternatives/ip6tables && mkdir -p /etc/iptables")
	if got := hostValue(t, h, "command -v iptables || echo none"); got != "none" {
		t.Fatalf("the host still has iptables: %s", got)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config:      notrackConfig(t, h, "protocol = \"udp\"\n  port     = \"53\""),
			ExpectError: errorLike(h.Addr+" has no iptables command", "Use conntrack_nft_notrack_rule"),
		}},
	})
	if got := hostValue(t, h, "ls -A /etc/iptables"); got != "" {
		t.Fatalf("the refused plan wrote %s", got)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: providerBlock(t, []*testhost.Host{h}, "") + fmt.Sprintf(`
resource "conntrack_nft_notrack_rule" "r" {
  host     = %q
  name     = "dns"
  protocol = "udp"
  port     = "53"
}`, h.Addr),
			Check: func(*terraform.State) error {
				if table := hostValue(t, h, "nft list table inet conntrack_tf_dns"); !strings.Contains(table, "udp dport 53 notrack") {
					return fmt.Errorf("nft table:\n%s", table)
				}
				return nil
			},
		}},
	})
}
