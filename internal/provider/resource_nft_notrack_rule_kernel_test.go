package provider

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// On a systemd Debian 12 kernel host running firewalld (nftables
// backend): the table is created beside firewalld's, survives
// `firewall-cmd --reload`, a firewalld restart and a restart of the
// nftables service (which stops firewalld, flushes the whole ruleset and
// loads /etc/nftables.conf, our include with it), the plan after all three
// is empty; back on firewalld, a table deleted by hand is drift that the
// apply repairs, import reads the rule from the host, and destroy leaves
// the configuration as it was.
func TestAccNftNotrack_kernelFirewalldAndNftablesRestart(t *testing.T) {
	t.Parallel()
	start := time.Now()
	// systemd under software emulation on a shared, loaded machine: 3
	// minutes were not enough for sshd (measured).
	h, run, kh := kernelHost(t, testhost.KernelOptions{Systemd: true, BootTimeout: 8 * time.Minute})
	t.Logf("kernel host up in %s", time.Since(start).Round(time.Second))
	conf := run("cat /etc/nftables.conf")
	loaded := func() bool { return run(`grep -c "^nf_tables " /proc/modules || true`) != "0" }
	atBoot := loaded()
	// firewalld answers on D-Bus only once it has set up its tables: under
	// emulation beside another guest that took longer than firewall-cmd's
	// 25 s D-Bus timeout ("Did not receive a reply"), so the test waits
	// for the daemon to say it runs, up to 3 minutes.
	const firewalldRunning = `for i in $(seq 90); do firewall-cmd --state 2>/dev/null && exit 0; sleep 2; done; firewall-cmd --state`
	startFirewalld := func() {
		run("systemctl start firewalld && " + firewalldRunning)
	}
	if backend := run("grep -E '^FirewallBackend=' /etc/firewalld/firewalld.conf || echo FirewallBackend=nftables"); !strings.HasSuffix(backend, "nftables") {
		t.Fatalf("firewalld backend: %s", backend)
	}
	config := fmt.Sprintf(`
provider "conntrack" {
  private_key_file = %q
  known_hosts_file = %q
  connect_timeout  = "60s"
  port             = %d # for the import, whose ID names no port
}
resource "conntrack_nft_notrack_rule" "r" {
  host     = %q
  ssh_port = %d
  name     = "web"
  protocol = "tcp"
  port     = "8080"
  rollback_timeout = 120
}`, h.ClientKeyFile(), kh, h.Port, h.Addr, h.Port)
	ours := func(when string) {
		t.Helper()
		out, err := h.Exec(t.Context(), "nft list table inet conntrack_tf_web")
		if err != nil || !strings.Contains(out, "tcp dport 8080 notrack") || !strings.Contains(out, "tcp sport 8080 notrack") {
			t.Fatalf("%s: our table is not running: %v\n%s", when, err, out)
		}
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		CheckDestroy: func(*terraform.State) error {
			out, _ := h.Exec(t.Context(), "nft list tables; cat /etc/nftables.conf; ls /etc/nftables.d")
			if strings.Contains(out, "conntrack_tf_web") || strings.Contains(out, "conntrack-tf-web") {
				return fmt.Errorf("left after destroy:\n%s", out)
			}
			if got := run("cat /etc/nftables.conf"); got != conf {
				return fmt.Errorf("/etc/nftables.conf after destroy:\n%s\nwant:\n%s", got, conf)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				// A plan reads the host: with nf_tables not loaded it lists
				// no ruleset, and loads nothing.
				Config: config, PlanOnly: true, ExpectNonEmptyPlan: true,
			},
			{
				PreConfig: func() {
					if !atBoot {
						if loaded() {
							t.Fatal("the plan loaded nf_tables")
						}
					} else {
						t.Log("nf_tables was loaded at boot: the read-loads-no-module check proves nothing here")
					}
					startFirewalld()
					if tables := run("nft list tables"); !strings.Contains(tables, "inet firewalld") {
						t.Fatalf("firewalld runs without its nftables table:\n%s", tables)
					}
				},
				Config: config,
				Check: func(*terraform.State) error {
					ours("after create")
					if tables := run("nft list tables"); !strings.Contains(tables, "inet firewalld") {
						return fmt.Errorf("firewalld's table is gone:\n%s", tables)
					}
					return nil
				},
			},
			{
				PreConfig: func() {
					run("firewall-cmd --reload && " + firewalldRunning)
					ours("after firewall-cmd --reload")
					run("systemctl restart firewalld && " + firewalldRunning)
					ours("after systemctl restart firewalld")
					// firewalld.service conflicts with nftables.service: a host
					// runs one of them. The nftables host's case: its service
					// (re)loads /etc/nftables.conf, which flushes the ruleset
					// and includes our file.
					run("systemctl restart nftables")
					if state, _ := h.Exec(t.Context(), "systemctl is-active firewalld"); strings.TrimSpace(state) == "active" {
						t.Fatal("firewalld still runs beside the nftables service")
					}
					ours("after systemctl restart nftables")
				},
				Config: config,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectEmptyPlan(),
				}},
			},
			{
				// Back on firewalld, the table is gone: starting firewalld
				// stops the nftables service, whose stop flushes the whole
				// ruleset (Debian's ExecStop), and had it survived it is
				// deleted by hand. The plan shows it, the apply loads it again
				// beside firewalld's.
				PreConfig: func() {
					startFirewalld()
					run("nft delete table inet conntrack_tf_web 2>/dev/null || true")
				},
				Config: config,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("conntrack_nft_notrack_rule.r", plancheck.ResourceActionUpdate),
				}},
				Check: func(*terraform.State) error {
					ours("after the drift was applied away")
					if tables := run("nft list tables"); !strings.Contains(tables, "inet firewalld") {
						return fmt.Errorf("firewalld's table is gone:\n%s", tables)
					}
					return nil
				},
			},
			{
				// Import learns what the rule matches from the host.
				ResourceName: "conntrack_nft_notrack_rule.r", ImportState: true, ImportStateId: h.Addr + ",web",
				ImportStateVerify: true, ImportStateVerifyIgnore: []string{"ssh_port", "rollback_timeout"},
			},
		},
	})
	t.Logf("kernel test took %s", time.Since(start).Round(time.Second))
}
