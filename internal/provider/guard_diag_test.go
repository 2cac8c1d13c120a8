package provider

import (
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/diag"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/converge"
)

// Each way a guarded change ends says what happened: only a failed login
// blames the firewall for cutting SSH.
func TestGuardDiagnosticsSayWhatHappened(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		rep           converge.GuardReport
		summary, text string
	}{
		"interrupted": {converge.GuardReport{Armed: true, Cause: converge.CauseInterrupted, RolledBack: true, Outcome: "restored", Timer: "setsid"},
			"The firewall change on h1 was rolled back", "cancelled"},
		"interrupted, outcome unknown": {converge.GuardReport{Armed: true, Cause: converge.CauseInterrupted, Pending: true},
			"The firewall change on h1 is being rolled back", "cancelled"},
		"refused": {converge.GuardReport{Armed: true, Cause: converge.CauseRefused, RolledBack: true, Outcome: "restored"},
			"The firewall change on h1 was rolled back", "refused"},
		"no login": {converge.GuardReport{Armed: true, Cause: converge.CauseNoLogin, RolledBack: true, Outcome: "restored", Timer: "systemd"},
			"The firewall change cut SSH to h1 and was rolled back", "(systemd timer)"},
		"restore failed": {converge.GuardReport{Armed: true, Cause: converge.CauseNoLogin, RolledBack: true, Outcome: "restore-failed: iptables-restore -T raw: x"},
			"The firewall change cut SSH to h1 and was rolled back", ""},
	} {
		t.Run(name, func(t *testing.T) {
			var diags diag.Diagnostics
			if guardDiagnostics(&diags, "h1", "The firewall change", "", c.rep, 30) {
				t.Fatal("an unconfirmed change reported as standing")
			}
			if diags[0].Summary() != c.summary || !strings.Contains(diags[0].Detail(), c.text) {
				t.Fatalf("%q / %q", diags[0].Summary(), diags[0].Detail())
			}
			if c.rep.Cause != converge.CauseNoLogin && strings.Contains(diags[0].Summary()+diags[0].Detail(), "cut SSH") {
				t.Fatalf("blames a cut: %q", diags[0].Summary())
			}
			if strings.HasPrefix(c.rep.Outcome, "restore-failed") && (len(diags) != 2 || !strings.Contains(diags[1].Detail(), "iptables-restore -T raw: x")) {
				t.Fatalf("restore failure not reported: %v", diags)
			}
		})
	}
	var diags diag.Diagnostics
	if !guardDiagnostics(&diags, "h1", "x", "", converge.GuardReport{Armed: true, Confirmed: true}, 30) || diags.HasError() {
		t.Fatal("a confirmed change failed")
	}
}
