package provider

import (
	"fmt"
	"net"
	"os"
	"regexp"
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

const nftAddr = "conntrack_nft_notrack_rule.r"

func nftConfig(t *testing.T, h *testhost.Host, body string) string {
	return providerBlock(t, []*testhost.Host{h}, "") + fmt.Sprintf(`
resource "conntrack_nft_notrack_rule" "r" {
  host = %q
  name = "web"
  %s
}`, h.Addr, body)
}

// debianNftConf is /etc/nftables.conf as Debian 12 ships it.
func debianNftConf(t *testing.T) string {
	b, err := os.ReadFile("../conffile/nftinclude/testdata/debian12-stock-nftables.conf")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// expectNftTable checks the running table of rule "web" holds want (and
// exists), or does not exist when want is empty.
func expectNftTable(t *testing.T, h *testhost.Host, want ...string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		out, err := h.Exec(t.Context(), "nft list table inet conntrack_tf_web 2>&1 || true")
		if err != nil {
			return err
		}
		if len(want) == 0 {
			if !strings.Contains(out, "No such file") {
				return fmt.Errorf("table still there:\n%s", out)
			}
			return nil
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				return fmt.Errorf("no %q in the running table:\n%s", w, out)
			}
		}
		return nil
	}
}

const nftRulesPath = "/etc/nftables.d/conntrack-tf-web.nft"

func TestAccNftNotrack_lifecycleDriftImport(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	stock := debianNftConf(t)
	writeHostFile(t, h, "/etc/nftables.conf", stock)
	included := stock + `include "` + nftRulesPath + `"` + "\n"
	config := nftConfig(t, h, `protocol = "tcp"
  port     = "8080"`)
	update := plancheck.ExpectResourceAction(nftAddr, plancheck.ResourceActionUpdate)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		CheckDestroy: resource.ComposeTestCheckFunc(
			expectNftTable(t, h),
			expectFile(h, "/etc/nftables.conf", stock),
			func(*terraform.State) error {
				if out := hostValue(t, h, "ls "+nftRulesPath+" 2>&1 || true"); !strings.Contains(out, "No such file") {
					return fmt.Errorf("rules file left: %s", out)
				}
				return nil
			},
		),
		Steps: []resource.TestStep{
			{
				Config: config,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(nftAddr, tfjsonpath.New("id"), knownvalue.StringExact(h.Addr+",web")),
					statecheck.ExpectKnownValue(nftAddr, tfjsonpath.New("table"), knownvalue.StringExact("inet conntrack_tf_web")),
					statecheck.ExpectKnownValue(nftAddr, tfjsonpath.New("rules_file"), knownvalue.StringExact(nftRulesPath)),
					statecheck.ExpectKnownValue(nftAddr, tfjsonpath.New("config_file"), knownvalue.StringExact("/etc/nftables.conf")),
					statecheck.ExpectKnownValue(nftAddr, tfjsonpath.New("states"), knownvalue.MapExact(map[string]knownvalue.Check{
						"prerouting": knownvalue.StringExact(notrackInPlace), "output": knownvalue.StringExact(notrackInPlace)})),
				},
				Check: resource.ComposeTestCheckFunc(
					expectNftTable(t, h, "hook prerouting priority raw", "tcp dport 8080 notrack", "hook output priority raw", "tcp sport 8080 notrack"),
					expectFile(h, "/etc/nftables.conf", included),
					// The persisted file loads on its own, as the nftables service would.
					func(*terraform.State) error {
						hostValue(t, h, "nft delete table inet conntrack_tf_web && nft -f /etc/nftables.conf")
						return expectNftTable(t, h, "tcp dport 8080 notrack")(nil)
					},
				),
			},
			{ResourceName: nftAddr, ImportState: true, ImportStateId: h.Addr + ",web", ImportStateVerify: true},
			{
				// The table is deleted by hand: the plan shows it, the apply loads it again.
				PreConfig: func() { hostValue(t, h, "nft delete table inet conntrack_tf_web") },
				Config:    config,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{update,
					plancheck.ExpectKnownValue(nftAddr, tfjsonpath.New("states").AtMapKey("prerouting"), knownvalue.StringExact(notrackInPlace))}},
				Check: expectNftTable(t, h, "tcp dport 8080 notrack", "tcp sport 8080 notrack"),
			},
			{
				// One live rule is edited by hand.
				PreConfig: func() {
					hostValue(t, h, "nft flush chain inet conntrack_tf_web output && nft add rule inet conntrack_tf_web output tcp sport 9999 notrack")
				},
				Config:           config,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{update}},
				Check:            expectNftTable(t, h, "tcp sport 8080 notrack"),
			},
			{
				// The rules file is edited, and the include line removed.
				PreConfig: func() {
					hostValue(t, h, "sed -i s/8080/8081/ "+nftRulesPath)
					writeHostFile(t, h, "/etc/nftables.conf", stock)
				},
				Config:           config,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{update}},
				Check: resource.ComposeTestCheckFunc(expectFile(h, "/etc/nftables.conf", included),
					func(*terraform.State) error {
						if f := hostFile(t, h, nftRulesPath); strings.Contains(f, "8081") || !strings.Contains(f, "tcp dport 8080 notrack") {
							return fmt.Errorf("rules file not rewritten:\n%s", f)
						}
						return nil
					}),
			},
			{
				// What the rule matches changes in place: the table is replaced whole.
				Config: nftConfig(t, h, `protocol = "udp"
  port        = "8000:8100"
  source      = "10.200.0.0/16"
  chains      = ["prerouting"]`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{update}},
				Check: resource.ComposeTestCheckFunc(
					expectNftTable(t, h, "ip saddr 10.200.0.0/16 udp dport 8000-8100 notrack"),
					func(*terraform.State) error {
						if out := hostValue(t, h, "nft list table inet conntrack_tf_web"); strings.Contains(out, "output") {
							return fmt.Errorf("output chain left:\n%s", out)
						}
						return nil
					},
				),
			},
			{ResourceName: nftAddr, ImportState: true, ImportStateId: h.Addr + ",web", ImportStateVerify: true},
		},
	})
}

// Packets to a NOTRACK'd port never enter the conntrack table; others do.
func TestAccNftNotrack_trafficIsNotTracked(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	// A stateful nft rule turns tracking on in the namespace; a listener on each port takes real connections.
	hostValue(t, h, `nft add table inet probe && nft add chain inet probe in "{ type filter hook input priority 0; }" && `+
		`nft add rule inet probe in ct state invalid drop && `+
		"for p in 8080 9090; do setsid busybox nc -l -p $p </dev/null >/dev/null 2>&1 & done; sleep 0.2")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: nftConfig(t, h, `protocol = "tcp"
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
				tracked8080, tracked9090 := strings.Count(table, "dport=8080 "), strings.Count(table, "dport=9090 ")
				t.Logf("conntrack entries in the host: dport=8080 (untracked): %d, dport=9090 (tracked): %d", tracked8080, tracked9090)
				if tracked8080 != 0 {
					return fmt.Errorf("port 8080 is tracked:\n%s", table)
				}
				if tracked9090 == 0 {
					return fmt.Errorf("port 9090 should be tracked:\n%s", table)
				}
				return nil
			},
		}},
	})
}

// Every hostile value is refused at plan time, on its attribute, before
// anything reaches the host.
func TestAccNftNotrack_hostileInputRejectedAtPlan(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	cfg := func(name, body string) string {
		return providerBlock(t, []*testhost.Host{h}, "") + fmt.Sprintf(`
resource "conntrack_nft_notrack_rule" "r" {
  host = %q
  name = %q
  protocol = "tcp"
  %s
}`, h.Addr, name, body)
	}
	var steps []resource.TestStep
	for _, c := range []struct{ name, body, want string }{
		{"web; nft flush ruleset", ``, `Invalid name`},
		{"Web", ``, `Invalid name`},
		{"web", `port = "80 accept"`, `Invalid port`},
		{"web", `source = "10.0.0.0/8\" ; flush ruleset"`, `Invalid address`},
		{"web", `source = "fe80::1%eth0"`, `Invalid address`},
		{"web", `source = "10.0.0.0/8"
  destination = "fd00::/8"`, `different families`},
		{"web", `rules_file = "/tmp/x.nft"`, `Invalid path`},
		{"web", `config_file = "/etc/../root/x"`, `Invalid path`},
		{"web", `rules_file = "/etc/x\"; flush ruleset; \".nft"`, `Invalid path`},
		{"web", `chains = ["input"]`, `chains`},
	} {
		steps = append(steps, resource.TestStep{Config: cfg(c.name, c.body), PlanOnly: true, ExpectError: regexp.MustCompile(c.want)})
	}
	resource.Test(t, resource.TestCase{ProtoV6ProviderFactories: protoV6ProviderFactories, Steps: steps})
	if out := hostValue(t, h, "nft list ruleset; ls /etc/nftables.d 2>&1 || true"); strings.Contains(out, "conntrack_tf") {
		t.Fatalf("something reached the host:\n%s", out)
	}
}

// nftLockoutHost gives h an nftables filter chain that accepts SSH only
// as tracked new or established packets, so a NOTRACK rule for port 22
// cuts SSH.
func nftLockoutHost(t *testing.T, h *testhost.Host) {
	t.Helper()
	hostValue(t, h, `nft add table inet filter && `+
		`nft add chain inet filter input "{ type filter hook input priority 0; policy drop; }" && `+
		`nft add rule inet filter input ct state established,related accept && `+
		`nft add rule inet filter input tcp dport 22 ct state new accept`)
}

// The plan warns about a filter chain that drops untracked packets; a
// change that cuts SSH is undone by the host: the table it replaced, the
// rules file and the nftables configuration come back as they were.
func TestAccNftNotrack_lockoutIsRolledBack(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	writeHostFile(t, h, "/etc/nftables.conf", debianNftConf(t))
	nftLockoutHost(t, h)
	ssh := nftConfig(t, h, `protocol         = "tcp"
  port             = "22"
  rollback_timeout = 8`)
	warned := false
	for _, d := range planDiagnostics(t, ssh) {
		if d.Severity == "warning" && strings.Contains(d.Summary, "Untracked packets will be dropped") && strings.Contains(d.Detail, "inet filter input") {
			warned = true
		}
	}
	if !warned {
		t.Fatal("no plan warning about the chain inet filter input that drops untracked packets")
	}
	udp := nftConfig(t, h, `protocol = "udp"
  port     = "53"`)
	var table, file, conf string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: udp,
				Check: func(*terraform.State) error {
					table, file = hostValue(t, h, "nft list table inet conntrack_tf_web"), hostFile(t, h, nftRulesPath)
					conf = hostFile(t, h, "/etc/nftables.conf")
					return nil
				},
			},
			{
				Config:      ssh,
				ExpectError: errorLike("cut SSH to "+h.Addr+" and was rolled back", "restored what it had saved"),
			},
			{
				// The host restored the table as it ran before, and the
				// files: the state of the first step plans no change.
				Config:           udp,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
				Check: func(*terraform.State) error {
					if got := hostValue(t, h, "nft list table inet conntrack_tf_web"); got != table {
						return fmt.Errorf("table not restored:\n%s\nwant:\n%s", got, table)
					}
					if got := hostFile(t, h, nftRulesPath); got != file {
						return fmt.Errorf("rules file not restored:\n%s", got)
					}
					if got := hostFile(t, h, "/etc/nftables.conf"); got != conf {
						return fmt.Errorf("nftables.conf not restored:\n%s", got)
					}
					return nil
				},
			},
		},
	})
	if left := guardFiles(t, h); left != "" {
		t.Fatalf("guard files left after the rollback:\n%s", left)
	}
}

// Destroy removes the rules file only when it is the one this rule wrote
// (its header names the rule): a file someone else put at that path since
// is left in place, byte for byte; the table and the include line are ours
// and go.
func TestAccNftNotrack_destroyKeepsAForeignRulesFile(t *testing.T) {
	t.Parallel()
	requireAcc(t)
	h := testhost.New(t, testhost.Options{})
	stock := debianNftConf(t)
	writeHostFile(t, h, "/etc/nftables.conf", stock)
	foreign := "#!/usr/sbin/nft -f\n# the site's own rules\ntable inet site {\n}\n"
	config := nftConfig(t, h, `protocol = "tcp"
  port     = "8080"`)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{
			{Config: config, Check: expectNftTable(t, h, "tcp dport 8080 notrack")},
			{
				// The rule leaves the configuration: an apply destroys it.
				Config:    providerBlock(t, []*testhost.Host{h}, ""),
				PreConfig: func() { writeHostFile(t, h, nftRulesPath, foreign) },
				Check: resource.ComposeTestCheckFunc(
					expectNftTable(t, h),
					expectFile(h, "/etc/nftables.conf", stock),
					expectFile(h, nftRulesPath, foreign),
				),
			},
		},
	})
}
