package provider

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// The direction of a NOTRACK rule (issue #26, item 4), proven with real
// UDP traffic through a router: the test host r forwards between two
// leaves, a (a client on its LAN) and b (a server beyond it). Each flow
// below is one client port, so its conntrack entries in r's namespace are
// exactly the lines naming that port and the service's.

// dirPort is the service's port the rules declare; otherPort is a port no
// rule declares.
const dirPort, otherPort = 7053, 7054

// A flow is one exchange of datagrams: who asks whom, seen from r.
type flow string

const (
	toRouter   flow = "a asks r (r serves)"
	fromRouter flow = "r asks b (r is the client)"
	through    flow = "a asks b through r (r forwards)"
	otherFlow  flow = "a asks b through r on a port no rule declares"
)

var flows = []flow{toRouter, fromRouter, through, otherFlow}

// routerNet is r with its leaves and the servers the flows ask.
type routerNet struct {
	t    *testing.T
	r    *testhost.Host
	a, b *testhost.Leaf
	port atomic.Int32 // the next flow's client port
}

// newRouterNet makes r a router between two leaves with conntrack on in
// its namespace (a stateful rule registers the hooks; a fresh namespace
// tracks nothing) and forwarding on (net.ipv4.ip_forward of r's own
// namespace), and starts the UDP servers: on r and b at dirPort, on b at
// otherPort.
func newRouterNet(t *testing.T, r *testhost.Host) *routerNet {
	t.Helper()
	n := &routerNet{t: t, r: r}
	n.port.Store(42000)
	var err error
	if n.a, err = r.AddLeaf(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n.b, err = r.AddLeaf(t.Context()); err != nil {
		t.Fatal(err)
	}
	hostValue(t, r, "sysctl -qw net.ipv4.ip_forward=1 && iptables -A INPUT -m conntrack --ctstate INVALID -j DROP")
	serve := func(out string, err error) {
		t.Helper()
		pid, perr := strconv.Atoi(strings.TrimSpace(out))
		if err != nil || perr != nil {
			t.Fatalf("start a UDP server: %q %v", out, err)
		}
		t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	}
	serve(r.Exec(t.Context(), testhost.UDPEchoScript(dirPort)))
	serve(n.b.Exec(t.Context(), testhost.UDPEchoScript(dirPort)))
	serve(n.b.Exec(t.Context(), testhost.UDPEchoScript(otherPort)))
	return n
}

// entries runs f once and returns how many conntrack entries of it r
// holds: an error when the answer did not come back.
func (n *routerNet) entries(f flow) (int, error) {
	client := int(n.port.Add(1))
	ask, from := testhost.UDPAskScript, n.a.Exec
	addr, port := n.b.Addr, dirPort
	switch f {
	case toRouter:
		addr = n.a.Gateway
	case fromRouter:
		from = n.r.Exec
	case otherFlow:
		port = otherPort
	}
	if out, err := from(n.t.Context(), ask(client, addr, port)); err != nil || out != "re:ask" {
		return 0, fmt.Errorf("%s: no answer (%q): %v", f, out, err)
	}
	pattern := fmt.Sprintf("sport=%d dport=%d |sport=%d dport=%d ", client, port, port, client)
	out, err := n.r.Exec(n.t.Context(), fmt.Sprintf("grep -cE '%s' /proc/net/nf_conntrack || true", pattern))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(out))
}

// expectUntracked checks, with real traffic, that the flows listed leave
// no conntrack entry on r and every other flow leaves one at least.
func (n *routerNet) expectUntracked(untracked ...flow) resource.TestCheckFunc {
	return func(*terraform.State) error {
		var wrong []string
		for _, f := range flows {
			got, err := n.entries(f)
			if err != nil {
				return err
			}
			declared := false
			for _, u := range untracked {
				declared = declared || u == f
			}
			if declared != (got == 0) {
				wrong = append(wrong, fmt.Sprintf("%s: %d entries (untracked declared: %v)", f, got, declared))
			}
		}
		if len(wrong) > 0 {
			return fmt.Errorf("conntrack entries on r:\n%s\n%s", strings.Join(wrong, "\n"), hostValue(n.t, n.r, "cat /proc/net/nf_conntrack; iptables-save -t raw; nft list ruleset"))
		}
		return nil
	}
}

// directionBody is a rule of dirPort with direction (none: the default).
func directionBody(direction, extra string) string {
	body := fmt.Sprintf("protocol = \"udp\"\n  port     = %q", strconv.Itoa(dirPort))
	if direction != "" {
		body += fmt.Sprintf("\n  direction = %q", direction)
	}
	return body + extra
}

func expectDirection(addr, direction string, chains ...string) []statecheck.StateCheck {
	states := map[string]knownvalue.Check{}
	for _, c := range chains {
		states[c] = knownvalue.StringExact(notrackInPlace)
	}
	return []statecheck.StateCheck{
		statecheck.ExpectKnownValue(addr, tfjsonpath.New("direction"), knownvalue.StringExact(direction)),
		statecheck.ExpectKnownValue(addr, tfjsonpath.New("states"), knownvalue.MapExact(states)),
	}
}

func expectUpdate(addr string) resource.ConfigPlanChecks {
	return resource.ConfigPlanChecks{
		PreApply:             []plancheck.PlanCheck{plancheck.ExpectResourceAction(addr, plancheck.ResourceActionUpdate)},
		PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
	}
}

// conntrack_notrack_rule in every direction: the rules, what they leave
// untracked, in place updates, drift of one rule, import, and the default
// that is today's server rules byte for byte.
func TestAccNotrackDirection_trafficDriftImport(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	n := newRouterNet(t, h)
	hostValue(t, h, "mkdir -p /etc/iptables")
	id := fmt.Sprintf("%s,4,udp,%d,,", h.Addr, dirPort)
	rule := func(chain, dir string) string {
		return fmt.Sprintf("-A %s -p udp -m udp --%s %d -m comment --comment \"conntrack-tf:", chain, dir, dirPort)
	}
	importStep := resource.TestStep{ResourceName: notrackAddr, ImportState: true, ImportStateId: id, ImportStateVerify: true}
	config := func(direction, extra string) string { return notrackConfig(t, h, directionBody(direction, extra)) }
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		CheckDestroy: resource.ComposeTestCheckFunc(expectLiveRules(t, h), func(*terraform.State) error {
			if f := hostFile(t, h, "/etc/iptables/rules.v4"); strings.Contains(f, "conntrack-tf:") {
				return fmt.Errorf("rules left in the file:\n%s", f)
			}
			if f := hostValue(t, h, "iptables-save -t filter"); strings.Contains(f, "conntrack-tf:") {
				return fmt.Errorf("filter rules left:\n%s", f)
			}
			return nil
		}),
		Steps: []resource.TestStep{
			{
				// The default is today's rule: PREROUTING --dport, OUTPUT --sport.
				Config:            config("", ""),
				ConfigStateChecks: expectDirection(notrackAddr, "server", "OUTPUT", "PREROUTING"),
				Check: resource.ComposeTestCheckFunc(
					expectLiveRules(t, h, rule("PREROUTING", "dport"), rule("OUTPUT", "sport")),
					n.expectUntracked(toRouter),
				),
			},
			{
				// Declaring the default changes nothing.
				Config:           config("server", ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
			},
			{
				Config:            config("client", ""),
				ConfigPlanChecks:  expectUpdate(notrackAddr),
				ConfigStateChecks: expectDirection(notrackAddr, "client", "OUTPUT", "PREROUTING"),
				Check: resource.ComposeTestCheckFunc(
					expectLiveRules(t, h, rule("PREROUTING", "sport"), rule("OUTPUT", "dport")),
					n.expectUntracked(fromRouter),
				),
			},
			importStep,
			{
				// Forwarded: both directions in PREROUTING. r's FORWARD chain
				// now drops what is neither NEW nor ESTABLISHED, so the answers
				// come back only through the accept rule the resource owns there.
				PreConfig: func() {
					hostValue(t, h, "iptables -P FORWARD DROP && iptables -A FORWARD -m conntrack --ctstate NEW,ESTABLISHED -j ACCEPT")
				},
				Config:            config("forward", "\n  ensure_untracked_accept = true"),
				ConfigPlanChecks:  expectUpdate(notrackAddr),
				ConfigStateChecks: expectDirection(notrackAddr, "forward", "PREROUTING"),
				Check: resource.ComposeTestCheckFunc(
					expectLiveRules(t, h, rule("PREROUTING", "dport"), rule("PREROUTING", "sport")),
					func(*terraform.State) error {
						if f := hostValue(t, h, "iptables -S FORWARD"); !strings.Contains(f, "-A FORWARD -m conntrack --ctstate UNTRACKED -m comment --comment \"conntrack-tf:") {
							return fmt.Errorf("no accept rule of ours in FORWARD:\n%s", f)
						}
						return nil
					},
					n.expectUntracked(through),
				),
			},
			// ensure_untracked_accept is not read from the host (as before).
			{ResourceName: notrackAddr, ImportState: true, ImportStateId: id, ImportStateVerify: true,
				ImportStateVerifyIgnore: []string{"ensure_untracked_accept"}},
			{
				// Drift: the replies' rule deleted from the running table.
				PreConfig: func() {
					hostValue(t, h, fmt.Sprintf("iptables -t raw -S PREROUTING | grep -- '--sport %d' | sed 's/^-A/-D/' | xargs -L1 iptables -t raw", dirPort))
					if got, _ := n.entries(through); got == 0 {
						t.Errorf("replies tracked again, yet no entry for the forwarded flow")
					}
				},
				Config:           config("forward", "\n  ensure_untracked_accept = true"),
				ConfigPlanChecks: expectUpdate(notrackAddr),
				Check:            n.expectUntracked(through),
			},
			{
				// Drift: the replies' rule edited in the rules file.
				PreConfig: func() {
					hostValue(t, h, fmt.Sprintf("sed -i 's/--sport %d/--sport %d/' /etc/iptables/rules.v4", dirPort, otherPort))
				},
				Config:           config("forward", "\n  ensure_untracked_accept = true"),
				ConfigPlanChecks: expectUpdate(notrackAddr),
				Check: func(*terraform.State) error {
					if f := hostFile(t, h, "/etc/iptables/rules.v4"); !strings.Contains(f, strings.TrimSuffix(rule("PREROUTING", "sport"), `"conntrack-tf:`)) || strings.Contains(f, strconv.Itoa(otherPort)) {
						return fmt.Errorf("rules file not repaired:\n%s", f)
					}
					return nil
				},
			},
			{
				PreConfig: func() {
					hostValue(t, h, "iptables -P FORWARD ACCEPT && iptables -D FORWARD -m conntrack --ctstate NEW,ESTABLISHED -j ACCEPT")
				},
				Config:            config("both", ""),
				ConfigPlanChecks:  expectUpdate(notrackAddr),
				ConfigStateChecks: expectDirection(notrackAddr, "both", "OUTPUT", "PREROUTING"),
				Check: resource.ComposeTestCheckFunc(
					expectLiveRules(t, h, rule("PREROUTING", "dport"), rule("PREROUTING", "sport"), rule("OUTPUT", "sport"), rule("OUTPUT", "dport")),
					// Both also covers the forwarded flow: its rules are forward's and more.
					n.expectUntracked(toRouter, fromRouter, through),
				),
			},
			importStep,
		},
	})
}

// conntrack_nft_notrack_rule in every direction, the same way.
func TestAccNftNotrackDirection_trafficDriftImport(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	n := newRouterNet(t, h)
	writeHostFile(t, h, "/etc/nftables.conf", debianNftConf(t))
	rule := func(dir string, direction string) string {
		comment := fmt.Sprintf("conntrack-tf udp %d - -", dirPort)
		if direction != "server" {
			comment += " " + direction
		}
		return fmt.Sprintf("udp %s %d notrack comment %q", dir, dirPort, comment)
	}
	chain := func(hook string, rules ...string) string {
		return fmt.Sprintf("\tchain %s {\n\t\ttype filter hook %s priority raw; policy accept;\n\t\t%s\n\t}", hook, hook, strings.Join(rules, "\n\t\t"))
	}
	importStep := resource.TestStep{ResourceName: nftAddr, ImportState: true, ImportStateId: h.Addr + ",web", ImportStateVerify: true}
	config := func(direction string) string { return nftConfig(t, h, directionBody(direction, "")) }
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		CheckDestroy:             expectNftTable(t, h),
		Steps: []resource.TestStep{
			{
				Config:            config(""),
				ConfigStateChecks: expectDirection(nftAddr, "server", "output", "prerouting"),
				Check: resource.ComposeTestCheckFunc(
					expectNftTable(t, h, chain("prerouting", rule("dport", "server")), chain("output", rule("sport", "server"))),
					n.expectUntracked(toRouter),
				),
			},
			{
				Config:           config("server"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
			},
			{
				Config:            config("client"),
				ConfigPlanChecks:  expectUpdate(nftAddr),
				ConfigStateChecks: expectDirection(nftAddr, "client", "output", "prerouting"),
				Check: resource.ComposeTestCheckFunc(
					expectNftTable(t, h, chain("prerouting", rule("sport", "client")), chain("output", rule("dport", "client"))),
					n.expectUntracked(fromRouter),
				),
			},
			importStep,
			{
				Config:            config("forward"),
				ConfigPlanChecks:  expectUpdate(nftAddr),
				ConfigStateChecks: expectDirection(nftAddr, "forward", "prerouting"),
				Check: resource.ComposeTestCheckFunc(
					expectNftTable(t, h, chain("prerouting", rule("dport", "forward"), rule("sport", "forward"))),
					func(*terraform.State) error {
						if out := hostValue(t, h, "nft list table inet conntrack_tf_web"); strings.Contains(out, "chain output") {
							return fmt.Errorf("forward has no output chain:\n%s", out)
						}
						return nil
					},
					n.expectUntracked(through),
				),
			},
			importStep,
			{
				// Drift: the replies' rule deleted from the running table.
				PreConfig: func() {
					hostValue(t, h, fmt.Sprintf(`nft delete rule inet conntrack_tf_web prerouting handle $(nft -a list chain inet conntrack_tf_web prerouting | awk '/sport %d/ {print $NF}')`, dirPort))
					if got, _ := n.entries(through); got == 0 {
						t.Errorf("replies tracked again, yet no entry for the forwarded flow")
					}
				},
				Config:           config("forward"),
				ConfigPlanChecks: expectUpdate(nftAddr),
				Check:            n.expectUntracked(through),
			},
			{
				// Drift: the direction edited in the rules file (a server rule's
				// file): the running table is right, the file is not.
				PreConfig: func() {
					hostValue(t, h, "sed -i 's/ forward\"/\"/; s/udp sport/udp dport/' /etc/nftables.d/conntrack-tf-web.nft")
				},
				Config:           config("forward"),
				ConfigPlanChecks: expectUpdate(nftAddr),
				Check: func(*terraform.State) error {
					if f := hostFile(t, h, "/etc/nftables.d/conntrack-tf-web.nft"); !strings.Contains(f, rule("sport", "forward")) {
						return fmt.Errorf("rules file not repaired:\n%s", f)
					}
					return nil
				},
			},
			{
				Config:            config("both"),
				ConfigPlanChecks:  expectUpdate(nftAddr),
				ConfigStateChecks: expectDirection(nftAddr, "both", "output", "prerouting"),
				Check: resource.ComposeTestCheckFunc(
					expectNftTable(t, h, chain("prerouting", rule("dport", "both"), rule("sport", "both")),
						chain("output", rule("sport", "both"), rule("dport", "both"))),
					n.expectUntracked(toRouter, fromRouter, through),
				),
			},
			importStep,
		},
	})
}

// A direction that leaves no rule in chains is an error at plan time, at
// direction; an unknown direction is refused by the validator.
func TestAccNotrackDirection_rejectedAtPlan(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	for _, tc := range []struct{ config, want string }{
		{notrackConfig(t, h, directionBody("forward", "\n  chains = [\"OUTPUT\"]")), `direction "forward" puts its rules in PREROUTING only`},
		{nftConfig(t, h, directionBody("forward", "\n  chains = [\"output\"]")), `direction "forward" puts its rules in prerouting only`},
		{notrackConfig(t, h, directionBody("inbound", "")), `value must be one of: \["server" "client" "forward" "both"\]`},
		{nftConfig(t, h, directionBody("Server", "")), `value must be one of: \["server" "client" "forward" "both"\]`},
	} {
		resource.Test(t, resource.TestCase{
			ProtoV6ProviderFactories: protoV6ProviderFactories,
			Steps:                    []resource.TestStep{{Config: tc.config, PlanOnly: true, ExpectError: regexp.MustCompile(`(?s)` + strings.ReplaceAll(tc.want, " ", `\s+`))}},
		})
	}
}

// The lock-out guard does not reason about the rule's shape: whatever the
// direction, a rule that cuts SSH is caught by the confirming login and
// rolled back by the host. A client rule for the ports SSH clients send
// from untracks the provider's own session (PREROUTING --sport), a forward
// rule for port 22 untracks it too (PREROUTING sees the host's own traffic).
func TestAccNotrackDirection_lockoutIsRolledBack(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ direction, port string }{{"client", "1024:65535"}, {"forward", "22"}} {
		t.Run(tc.direction, func(t *testing.T) {
			h := testhost.New(t, testhost.Options{})
			lockoutHost(t, h)
			before := tables(t, h)
			resource.Test(t, resource.TestCase{
				ProtoV6ProviderFactories: protoV6ProviderFactories,
				Steps: []resource.TestStep{{
					Config: notrackConfig(t, h, fmt.Sprintf(`protocol         = "tcp"
  port             = %q
  direction        = %q
  rollback_timeout = 8`, tc.port, tc.direction)),
					ExpectError: errorLike("cut SSH to "+h.Addr+" and was rolled back", "restored what it had saved"),
				}},
			})
			if got := tables(t, h); got != before {
				t.Fatalf("tables not restored:\n%s\nwant:\n%s", got, before)
			}
		})
	}
}

// A state written before direction existed (the attribute absent, as the
// framework reads it: null) plans no change with the default, and the
// refresh reads the direction back from the host: server.
func TestAccNotrackDirection_stateWithoutDirection(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	hostValue(t, h, "mkdir -p /etc/iptables")
	writeHostFile(t, h, "/etc/nftables.conf", debianNftConf(t))
	config := notrackConfig(t, h, directionBody("", "")) + fmt.Sprintf(`
resource "conntrack_nft_notrack_rule" "r" {
  host = %q
  name = "web"
  %s
}`, h.Addr, directionBody("", ""))
	c := newTerraformCLI(t, config)
	c.run("apply", "-auto-approve", "-input=false", "-no-color")
	statePath := filepath.Join(c.dir, "terraform.tfstate")
	// editState runs edit on each instance's attributes, and writes the
	// state back when write is set.
	editState := func(write bool, edit func(attrs map[string]any) error) {
		t.Helper()
		b, err := os.ReadFile(statePath)
		if err != nil {
			t.Fatal(err)
		}
		var raw map[string]any
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatal(err)
		}
		resources, _ := raw["resources"].([]any)
		if len(resources) != 2 {
			t.Fatalf("%d resources in the state, want 2", len(resources))
		}
		for _, r := range resources {
			res, _ := r.(map[string]any)
			instances, _ := res["instances"].([]any)
			for _, inst := range instances {
				in, _ := inst.(map[string]any)
				attrs, ok := in["attributes"].(map[string]any)
				if !ok {
					t.Fatalf("state instance without attributes: %v", inst)
				}
				if err := edit(attrs); err != nil {
					t.Fatal(err)
				}
			}
		}
		if !write {
			return
		}
		out, err := json.MarshalIndent(raw, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(statePath, out, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	editState(true, func(attrs map[string]any) error {
		if attrs["direction"] != "server" {
			return fmt.Errorf("direction %v after the apply, want server", attrs["direction"])
		}
		delete(attrs, "direction")
		return nil
	})
	plan := exec.Command(os.Getenv("TF_ACC_TERRAFORM_PATH"), "plan", "-detailed-exitcode", "-input=false", "-no-color")
	plan.Dir, plan.Env = c.dir, c.env
	if out, err := plan.CombinedOutput(); err != nil {
		t.Fatalf("plan over a state without direction: %v (exit 2: changes)\n%s", err, out)
	}
	c.run("apply", "-refresh-only", "-auto-approve", "-input=false", "-no-color")
	editState(false, func(attrs map[string]any) error {
		if attrs["direction"] != "server" {
			return fmt.Errorf("direction %v read back, want server", attrs["direction"])
		}
		return nil
	})
	c.run("destroy", "-auto-approve", "-input=false", "-no-color")
}
