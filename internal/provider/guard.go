package provider

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/converge"
)

// guardWarnings reports, once per walk, each rolled-back change a read of
// host found recorded (the read removed the record).
func (pd *providerData) guardWarnings(diags *diag.Diagnostics, host string, outcomes []conntrack.GuardOutcome) {
	for _, o := range outcomes {
		if _, seen := pd.guardReported.LoadOrStore(host+"\x00"+o.Label+"\x00"+o.Outcome, true); seen {
			continue
		}
		if o.Failed() {
			diags.AddWarning(fmt.Sprintf("A change on %s was rolled back, and the restore failed", host),
				fmt.Sprintf("%s was not confirmed by a new SSH login, so the host restored what it had saved, but: %s. "+
					"Check the firewall and the files from the host's console; the plan below compares the configuration with what the host holds now.",
					o.Label, strings.TrimPrefix(o.Outcome, "restore-failed: ")))
			continue
		}
		diags.AddWarning(fmt.Sprintf("A change on %s was rolled back", host),
			fmt.Sprintf("%s was not confirmed by a new SSH login, so the host restored what it had saved before it (tables, files, running values). "+
				"The plan below compares the configuration with what the host holds now.", o.Label))
	}
}

// guardDiagnostics words how a guarded change (what: "The firewall
// change", "The firewall service start") on host ended; lockoutHint says
// how such a change can cut SSH. Refusals are reported by the caller. It returns whether the change stands.
func guardDiagnostics(diags *diag.Diagnostics, host, what, lockoutHint string, rep converge.GuardReport, seconds int64) bool {
	if !rep.Armed || rep.Confirmed {
		return true
	}
	why := ""
	switch rep.Cause {
	case converge.CauseRefused:
		why = "The host refused part of it (see the errors above), so none of it is kept."
	case converge.CauseIncomplete:
		why = fmt.Sprintf("The apply did not finish (%s), so none of it is kept.", detail(rep.Err))
	case converge.CauseInterrupted:
		why = "The apply was cancelled before a new login confirmed it, so none of it is kept."
	case converge.CauseWrite:
		why = fmt.Sprintf("The live change applied but a file could not be written (%s), so none of it is kept.", detail(rep.Err))
	case converge.CauseLate:
		why = "The confirmation came too late: the host's timer had restored the previous state. Apply again; on a slow host, raise rollback_timeout where the resource has one."
	case converge.CauseNoLogin:
		why = fmt.Sprintf("After the change no new SSH login to %s succeeded within %d seconds. %s", host, seconds, lockoutHint)
	}
	summary := fmt.Sprintf("%s on %s was rolled back", what, host)
	if rep.Cause == converge.CauseNoLogin {
		summary = fmt.Sprintf("%s cut SSH to %s and was rolled back", what, host)
	}
	switch {
	case rep.RolledBack && rep.Outcome == "restored":
		diags.AddError(summary, why+fmt.Sprintf(" The host restored what it had saved before the change (%s timer).", rep.Timer))
	case rep.RolledBack:
		diags.AddError(summary, why)
		diags.AddError(fmt.Sprintf("%s could not restore everything", host),
			fmt.Sprintf("The host's rollback reported: %s. Check the firewall and files from the host's console.", strings.TrimPrefix(rep.Outcome, "restore-failed: ")))
	default:
		if rep.Cause == converge.CauseNoLogin {
			summary = fmt.Sprintf("%s cut SSH to %s and is being rolled back", what, host)
		} else {
			summary = fmt.Sprintf("%s on %s is being rolled back", what, host)
		}
		diags.AddError(summary, why+fmt.Sprintf(" The host restores the tables and files it saved by itself at %s (its guard is %s); "+
			"the next plan reports how that went. If the host stays unreachable, check it from its console.",
			rep.Deadline.UTC().Format(time.TimeOnly+" MST"), rep.Dir))
	}
	return false
}
