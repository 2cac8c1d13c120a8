package provider

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// Guarded live changes (issue #12): the host saves what a change touches,
// arms a timer that outlives the session, and restores the tables and the
// files by itself unless a new login confirms a complete apply.

// guardFiles lists the guard directories and outcome records of h's
// network namespace (namespace hosts share the machine's /run; the
// namespace's inode keeps theirs apart).
func guardFiles(t *testing.T, h *testhost.Host) string {
	t.Helper()
	return strings.TrimSpace(hostValue(t, h, `ns=$(stat -L -c %i /proc/self/ns/net); ls -d /run/conntrack-tf-guard."$ns".* 2>/dev/null || true`))
}

// useBackend points h's iptables commands at the legacy or nft backend.
func useBackend(t *testing.T, h *testhost.Host, backend string) {
	t.Helper()
	for _, tool := range []string{"iptables", "iptables-save", "iptables-restore"} {
		hostValue(t, h, fmt.Sprintf("ln -sf /usr/sbin/%s /etc/alternatives/%s", strings.Replace(tool, "iptables", "iptables-"+backend, 1), tool))
	}
	if v := hostValue(t, h, "iptables -V"); !strings.Contains(v, map[string]string{"legacy": "legacy", "nft": "nf_tables"}[backend]) {
		t.Fatalf("not %s: %s", backend, v)
	}
}

// lockoutHost gives h a filter table that accepts SSH only as tracked
// NEW or ESTABLISHED packets, so a NOTRACK rule for port 22 cuts SSH.
func lockoutHost(t *testing.T, h *testhost.Host) {
	t.Helper()
	hostValue(t, h, "mkdir -p /etc/iptables && printf '# before\\n' > /etc/iptables/rules.v4 && "+
		"iptables -P INPUT DROP && iptables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT && "+
		"iptables -A INPUT -p tcp --dport 22 -m conntrack --ctstate NEW -j ACCEPT")
}

// tables is h's running raw and filter tables without iptables-save's
// dated comment lines and packet counters.
func tables(t *testing.T, h *testhost.Host) string {
	t.Helper()
	return hostValue(t, h, `for t in raw filter; do iptables-save -t $t | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//'; done`)
}

// rollbackWarnings are the details of the "was rolled back" warnings
// among diags: the reports of guarded changes the host undid.
func rollbackWarnings(diags []planDiagnostic) []string {
	var warned []string
	for _, d := range diags {
		if d.Severity == "warning" && strings.Contains(d.Summary, "was rolled back") {
			warned = append(warned, d.Detail)
		}
	}
	return warned
}

// killProvider kills (-9) the process running binary, by its id.
func killProvider(t *testing.T, binary string) bool {
	t.Helper()
	exes, _ := filepath.Glob("/proc/[0-9]*/exe")
	killed := false
	for _, exe := range exes {
		if target, err := os.Readlink(exe); err == nil && target == binary {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(exe)))
			killed = syscall.Kill(pid, syscall.SIGKILL) == nil || killed
		}
	}
	return killed
}

// waitFor polls cond every 100 ms until it holds or timeout passes, and
// returns how long that took.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start)
}

// kill -9 of the provider between arming and confirming: the host alone
// puts back its raw and filter tables and its rules file within
// rollback_timeout + a few seconds, on either iptables backend, and the
// next plan reports the rolled-back change once.
func TestAccGuard_killedProviderIsRolledBackByTheHost(t *testing.T) {
	t.Parallel()
	cliConfig, binary := buildProvider(t)
	const timeout = 10
	for _, backend := range []string{"nft", "legacy"} {
		t.Run(backend, func(t *testing.T) {
			h := testhost.New(t, testhost.Options{})
			useBackend(t, h, backend)
			lockoutHost(t, h)
			before := tables(t, h)
			c := &terraformCLI{t: t, dir: t.TempDir(), env: append(os.Environ(), "TF_CLI_CONFIG_FILE="+cliConfig,
				"CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1")}
			c.configure(notrackConfig(t, h, fmt.Sprintf(`protocol         = "tcp"
  port             = "22"
  rollback_timeout = %d`, timeout)))
			cmd := exec.Command(os.Getenv("TF_ACC_TERRAFORM_PATH"), "apply", "-auto-approve", "-input=false", "-no-color")
			cmd.Dir, cmd.Env = c.dir, c.env
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Between arming and confirming: the guard is armed and the
			// rules file already holds the new rule.
			waitFor(t, 60*time.Second, "the guarded change starts", func() bool {
				out, _ := h.Exec(t.Context(), "grep -c conntrack-tf: /etc/iptables/rules.v4")
				return strings.TrimSpace(out) == "2" && guardFiles(t, h) != ""
			})
			if !killProvider(t, binary) {
				t.Fatal("no provider process to kill")
			}
			_ = cmd.Wait()
			took := waitFor(t, (timeout+5)*time.Second, "the host restores its tables and rules file", func() bool {
				return tables(t, h) == before && hostFile(t, h, "/etc/iptables/rules.v4") == "# before\n"
			})
			t.Logf("%s: tables and rules file back %s after the kill (rollback_timeout %ds)", backend, took.Round(100*time.Millisecond), timeout)
			// The record is written last, after the files are back.
			outcome := `ns=$(stat -L -c %i /proc/self/ns/net); cat /run/conntrack-tf-guard."$ns".firewall4.*.outcome 2>/dev/null || true`
			waitFor(t, 10*time.Second, "the host records the outcome", func() bool { return hostValue(t, h, outcome) != "" })
			if rec := hostValue(t, h, outcome); !strings.HasSuffix(strings.TrimSpace(rec), "\nrestored") {
				t.Fatalf("outcome record %q", rec)
			}
			warned := rollbackWarnings(c.diagnostics("plan"))
			if len(warned) != 1 || !strings.Contains(warned[0], "adding NOTRACK rule") {
				t.Fatalf("plan warnings about the rollback: %q, want one naming the change", warned)
			}
			if left := guardFiles(t, h); left != "" {
				t.Fatalf("guard files left after the plan reported the outcome:\n%s", left)
			}
			for _, d := range c.diagnostics("plan") {
				if strings.Contains(d.Summary, "was rolled back") {
					t.Fatalf("the rollback was reported twice: %+v", d)
				}
			}
		})
	}
}

// A change iptables rejects in part is rolled back at once, tables and
// rules file, and reported, never confirmed; nothing stays in /run.
func TestAccGuard_refusedChangeIsRolledBack(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	hostValue(t, h, "mkdir -p /etc/iptables && printf '# before\\n' > /etc/iptables/rules.v4")
	// iptables refuses the PREROUTING rule; the OUTPUT one applies.
	hostValue(t, h, `printf '#!/bin/sh\ncase " $* " in *" -A PREROUTING "*) echo "test refusal" >&2; exit 1 ;; esac\nexec /usr/sbin/iptables-nft "$@"\n' > /etc/ct-refuse && `+
		`chmod 755 /etc/ct-refuse && ln -sf /etc/ct-refuse /etc/alternatives/iptables`)
	before := tables(t, h)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config:      notrackConfig(t, h, `protocol = "udp"`+"\n"+`port = "53"`),
			ExpectError: errorLike("iptables refused a rule on "+h.Addr, "test refusal"),
		}},
	})
	if got := tables(t, h); got != before {
		t.Fatalf("tables not restored:\n%s\nwant:\n%s", got, before)
	}
	if got := hostFile(t, h, "/etc/iptables/rules.v4"); got != "# before\n" {
		t.Fatalf("rules file not restored: %q", got)
	}
	if left := guardFiles(t, h); left != "" {
		t.Fatalf("guard files left:\n%s", left)
	}
}

// A confirmed change leaves nothing in /run, and the lock-out rollback
// reports the host's restore and leaves nothing either.
func TestAccGuard_confirmAndLockoutLeaveNothing(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	hostValue(t, h, "mkdir -p /etc/iptables")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: notrackConfig(t, h, `protocol = "udp"`+"\n"+`port = "53"`),
			Check: func(*terraform.State) error {
				if left := guardFiles(t, h); left != "" {
					return fmt.Errorf("guard files left after confirm:\n%s", left)
				}
				return nil
			},
		}},
	})
	h2 := testhost.New(t, testhost.Options{})
	lockoutHost(t, h2)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: notrackConfig(t, h2, `protocol         = "tcp"
  port             = "22"
  rollback_timeout = 8`),
			ExpectError: errorLike("cut SSH to "+h2.Addr+" and was rolled back", "restored what it had saved"),
		}},
	})
	if left := guardFiles(t, h2); left != "" {
		t.Fatalf("guard files left after the rollback:\n%s", left)
	}
}

// lockoutRules4 is a persisted ruleset that cuts SSH when a firewall
// service loads it: INPUT drops everything, established sessions too.
const lockoutRules4 = `*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
COMMIT
`

// serviceLockoutHost installs the iptables service (SysV: a namespace
// host), stopped, with lockoutRules4, and a live rule of its own that a
// rollback must bring back.
func serviceLockoutHost(t *testing.T, h *testhost.Host) {
	t.Helper()
	hostValue(t, h, testhost.IptablesServicesScript(false, lockoutRules4, serviceRules6))
	hostValue(t, h, "iptables -A OUTPUT -p udp --dport 9 -j ACCEPT")
}

func serviceRunning(t *testing.T, h *testhost.Host) bool {
	t.Helper()
	return hostValue(t, h, "[ -e /var/lock/subsys/iptables ] && echo yes || echo no") == "yes"
}

// A firewall service start that cuts SSH is undone by the host: the
// service is stopped again and the tables it replaced come back.
func TestAccGuard_serviceStartIsRolledBack(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	serviceLockoutHost(t, h)
	before := tables(t, h)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config:      firewallServiceConfig(t, h, `services = ["iptables"]`+"\n"+`running = true`),
			ExpectError: errorLike("The firewall service start cut SSH to "+h.Addr+" and was rolled back", "restored what it had saved"),
		}},
	})
	if serviceRunning(t, h) {
		t.Fatal("iptables still runs after the rollback")
	}
	if got := tables(t, h); got != before {
		t.Fatalf("tables not restored:\n%s\nwant:\n%s", got, before)
	}
	if left := guardFiles(t, h); left != "" {
		t.Fatalf("guard files left:\n%s", left)
	}
}

// kill -9 of the provider while a firewall service start that cuts SSH
// waits for its confirmation: the host stops the service and restores its
// tables by itself, and the next plan reports it.
func TestAccGuard_killedProviderServiceStart(t *testing.T) {
	t.Parallel()
	cliConfig, binary := buildProvider(t)
	h := testhost.New(t, testhost.Options{})
	serviceLockoutHost(t, h)
	before := tables(t, h)
	c := &terraformCLI{t: t, dir: t.TempDir(), env: append(os.Environ(), "TF_CLI_CONFIG_FILE="+cliConfig,
		"CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1")}
	c.configure(firewallServiceConfig(t, h, `services = ["iptables"]`+"\n"+`running = true`))
	cmd := exec.Command(os.Getenv("TF_ACC_TERRAFORM_PATH"), "apply", "-auto-approve", "-input=false", "-no-color")
	cmd.Dir, cmd.Env = c.dir, c.env
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the guarded start", func() bool { return serviceRunning(t, h) && guardFiles(t, h) != "" })
	if !killProvider(t, binary) {
		t.Fatal("no provider process to kill")
	}
	_ = cmd.Wait()
	took := waitFor(t, 35*time.Second, "the host stops the service and restores its tables", func() bool {
		return !serviceRunning(t, h) && tables(t, h) == before
	})
	t.Logf("service stopped and tables back %s after the kill (rollback window 30s)", took.Round(100*time.Millisecond))
	warned := rollbackWarnings(c.diagnostics("plan"))
	if len(warned) != 1 || !strings.Contains(warned[0], "starting iptables") {
		t.Fatalf("plan warnings about the rollback: %q, want one naming the start", warned)
	}
	if left := guardFiles(t, h); left != "" {
		t.Fatalf("guard files left after the plan reported the outcome:\n%s", left)
	}
}
