package provider

import (
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// On a systemd kernel host the guard's timer is a systemd-run transient
// timer (PID 1 runs the restore, so no session cleanup can kill it): a
// firewall service start that cuts SSH is undone by it, and nothing of
// the guard stays behind (no file under /run, no unit).
func TestAccGuard_kernelSystemdServiceStart(t *testing.T) {
	t.Parallel()
	h, run, kh := kernelHost(t, testhost.KernelOptions{Systemd: true})
	run(testhost.IptablesServicesScript(true, lockoutRules4, serviceRules6))
	run("iptables -A OUTPUT -p udp --dport 9 -j ACCEPT")
	tablesNow := func() string {
		return run(`for t in raw filter; do iptables-save -t $t | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//'; done`)
	}
	before := tablesNow()
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config:      kernelConfig(h, kh, "conntrack_firewall_service", "f", `services = ["iptables"]`+"\n  running = true"),
			ExpectError: errorLike("The firewall service start cut SSH to", "and was rolled back", "(systemd timer)"),
		}},
	})
	if got := strings.TrimSpace(run("systemctl is-active iptables.service || true")); got != "inactive" {
		t.Fatalf("iptables.service is %s after the rollback", got)
	}
	if got := tablesNow(); got != before {
		t.Fatalf("tables not restored:\n%s\nwant:\n%s", got, before)
	}
	if left := strings.TrimSpace(run("ls -d /run/conntrack-tf-* 2>/dev/null; systemctl list-units --all --no-legend 'conntrack-tf-guard*' || true")); left != "" {
		t.Fatalf("guard left behind:\n%s", left)
	}
}
