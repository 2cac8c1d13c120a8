package provider

// Plans that read well (issue #16 item 6): drift shows as `~ old -> new` on
// what the user declared, and computed detail the apply does not change is
// not "known after apply". Asserted on the text of the real CLI's plan.

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// planText runs `terraform plan` and returns its text (no colour).
func (c *terraformCLI) planText() string {
	c.t.Helper()
	return string(c.run("plan", "-no-color", "-input=false", "-lock=false"))
}

// apply applies and fails the test on any error diagnostic ("Provider
// produced inconsistent result after apply" included).
func (c *terraformCLI) apply() {
	c.t.Helper()
	for _, d := range c.diagnostics("apply", "-auto-approve") {
		if d.Severity == "error" {
			c.t.Fatalf("apply: %s: %s", d.Summary, d.Detail)
		}
	}
}

// expectPlanLines fails unless plan has a line matching each pattern
// (whitespace-insensitive: Terraform aligns the `=`).
func expectPlanLines(t *testing.T, plan string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		re := regexp.MustCompile(`(?m)^\s*` + strings.Join(strings.Fields(regexp.QuoteMeta(p)), `\s+`) + `\s*$`)
		if !re.MatchString(plan) {
			t.Errorf("the plan has no line %q:\n%s", p, plan)
		}
	}
}

// expectNotInPlan fails when plan contains any of the phrases.
func expectNotInPlan(t *testing.T, plan string, phrases ...string) {
	t.Helper()
	for _, p := range phrases {
		if strings.Contains(plan, p) {
			t.Errorf("the plan says %q:\n%s", p, plan)
		}
	}
}

// expectNoChanges fails unless the plan is empty.
func expectNoChanges(t *testing.T, c *terraformCLI) {
	t.Helper()
	if plan := c.planText(); !strings.Contains(plan, "No changes.") {
		t.Errorf("the plan after the apply is not empty:\n%s", plan)
	}
}

// driftPlan applies config, runs drift on the host, and returns the next
// plan's text, logged so a reader sees what a user would.
func driftPlan(t *testing.T, config string, drift func()) (*terraformCLI, string) {
	t.Helper()
	c := newTerraformCLI(t, config)
	c.apply()
	expectNoChanges(t, c)
	drift()
	plan := c.planText()
	t.Logf("plan after the drift:\n%s", plan)
	return c, plan
}

// A firewall service someone restarted plans `~ running = true -> false`,
// with only that service's detail changing in `states`.
func TestAccPlanText_firewallServiceRestarted(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	hostValue(t, h, testhost.IptablesServicesScript(false, serviceRules4, serviceRules6))
	hostValue(t, h, "service iptables start && service ip6tables start")
	c, plan := driftPlan(t, firewallServiceConfig(t, h, "enabled = false\n  running = false"),
		func() { hostValue(t, h, "service iptables start") })
	// The declared aggregate, then the one service that moved; ip6tables
	// stays hidden.
	expectPlanLines(t, plan, "~ running = true -> false", `~ "iptables" = {`, "~ running = true -> false",
		"# (2 unchanged attributes hidden)", "# (1 unchanged element hidden)")
	if !regexp.MustCompile(`(?s)~ running\s+= true -> false.*~ "iptables" = \{\s*~ running\s+= true -> false`).MatchString(plan) {
		t.Errorf("the plan does not show running, then iptables' running, changing:\n%s", plan)
	}
	expectNotInPlan(t, plan, "known after apply", "+ running", `"ip6tables" = {`)
	c.apply()
	expectNoChanges(t, c)
}

// The other way round, with enabled unmanaged: a stopped service plans
// `~ running = false -> true`; a shorter list of services plans its states
// and the unmanaged enabled, nothing known after apply.
func TestAccPlanText_firewallServiceStoppedAndListChanged(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	hostValue(t, h, testhost.IptablesServicesScript(false, serviceRules4, serviceRules6))
	c, plan := driftPlan(t, firewallServiceConfig(t, h, "running = true"),
		func() { hostValue(t, h, "service ip6tables stop") })
	expectPlanLines(t, plan, "~ running = false -> true", `~ "ip6tables" = {`, "~ running = false -> true")
	expectNotInPlan(t, plan, "known after apply", `"iptables" = {`, "enabled")
	c.apply()
	expectNoChanges(t, c)

	c.configure(firewallServiceConfig(t, h, "services = [\"iptables\"]\n  running = true"))
	plan = c.planText()
	t.Logf("plan for a shorter list:\n%s", plan)
	expectPlanLines(t, plan, `- "ip6tables" = {`)
	expectNotInPlan(t, plan, "known after apply", "~ running", "~ enabled", `~ "iptables"`)
	c.apply()
	expectNoChanges(t, c)
	// ip6tables left the list and is left as it is: still running.
	if got := hostValue(t, h, "[ -e /var/lock/subsys/ip6tables ] && echo running"); got != "running" {
		t.Fatalf("ip6tables: %q, want running", got)
	}
}

// A deleted blacklist line plans a change naming the module, not the
// modules set gaining an element.
func TestAccPlanText_blacklistLineDeleted(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	c, plan := driftPlan(t, blacklistConfig(t, h, `modules = ["nf_conntrack", "xt_state"]`),
		func() { hostValue(t, h, "sed -i '/^blacklist nf_conntrack$/d' /etc/modprobe.d/blacklist.conf") })
	expectPlanLines(t, plan, `~ "nf_conntrack" = "not blacklisted" -> "disabled"`, "# (1 unchanged element hidden)")
	expectNotInPlan(t, plan, "known after apply", `+ "nf_conntrack"`, `xt_state" =`, "~ modules", "~ builtin")
	c.apply()
	expectNoChanges(t, c)
	// Only the install line goes: the module is still blacklisted.
	hostValue(t, h, "sed -i '/^install xt_state /d' /etc/modprobe.d/blacklist.conf")
	plan = c.planText()
	t.Logf("plan after the install line went:\n%s", plan)
	expectPlanLines(t, plan, `~ "xt_state" = "blacklisted" -> "disabled"`)
	expectNotInPlan(t, plan, "known after apply", `nf_conntrack" =`, "~ modules", "~ builtin")
	c.apply()
	expectNoChanges(t, c)
}

// A NOTRACK rule deleted from the running table plans a change of its
// chain in states, not chains gaining an element.
func TestAccPlanText_notrackRuleDeletedLive(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	hostValue(t, h, "mkdir -p /etc/iptables")
	c, plan := driftPlan(t, notrackConfig(t, h, "protocol = \"tcp\"\n  port     = \"8080\""), func() {
		hostValue(t, h, "iptables -w -t raw -S PREROUTING | grep conntrack-tf | sed 's/^-A/-D/' | xargs -L1 iptables -w -t raw")
	})
	expectPlanLines(t, plan, `~ "PREROUTING" = "persisted only" -> "live and persisted"`, "# (1 unchanged element hidden)")
	expectNotInPlan(t, plan, "known after apply", "~ chains", `+ "PREROUTING"`, `"OUTPUT" =`)
	c.apply()
	expectNoChanges(t, c)
	// Now the file loses the OUTPUT rule.
	hostValue(t, h, "sed -i '/OUTPUT.*conntrack-tf/d' /etc/iptables/rules.v4")
	plan = c.planText()
	t.Logf("plan after the file lost the OUTPUT rule:\n%s", plan)
	expectPlanLines(t, plan, `~ "OUTPUT" = "live only" -> "live and persisted"`)
	expectNotInPlan(t, plan, "known after apply", "~ chains", `"PREROUTING" =`)
	c.apply()
	expectNoChanges(t, c)
}

// aggregate: a declared value reads as itself only when every service has
// it; an unmanaged one as all, none or null.
func TestFirewallServiceAggregate(t *testing.T) {
	t.Parallel()
	yes, no := true, false
	for _, tc := range []struct {
		values   []bool
		declared *bool
		want     types.Bool
	}{
		{[]bool{false, false}, &no, types.BoolValue(false)},
		{[]bool{true, false}, &no, types.BoolValue(true)},
		{[]bool{true, true}, &no, types.BoolValue(true)},
		{[]bool{true, true}, &yes, types.BoolValue(true)},
		{[]bool{false, true}, &yes, types.BoolValue(false)},
		{[]bool{false, false}, &yes, types.BoolValue(false)},
		{[]bool{true, true}, nil, types.BoolValue(true)},
		{[]bool{false, false}, nil, types.BoolValue(false)},
		{[]bool{true, false}, nil, types.BoolNull()},
	} {
		if got := aggregate(tc.values, tc.declared); !got.Equal(tc.want) {
			d := "unmanaged"
			if tc.declared != nil {
				d = fmt.Sprint(*tc.declared)
			}
			t.Errorf("aggregate(%v, %s) = %s, want %s", tc.values, d, got, tc.want)
		}
	}
}
