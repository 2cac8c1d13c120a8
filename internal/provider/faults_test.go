package provider

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/sshx"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// Fault injection over whole Terraform runs (issue #10): a namespace host
// behind a testhost.FaultProxy, one resource toggled between two
// configurations, and a fault injected into each apply (a cut connection, a
// killed provider process, Ctrl-C of terraform). After every fault: each
// managed file is byte for byte the old or the new content, no temp file is
// left, the host lock is free, a plan that says "no changes" means the host
// holds the new content and live state, and a clean apply converges to an
// empty plan. CONNTRACK_FAULT_SWEEP=full runs the long sweep;
// CONNTRACK_FAULT_SEED replays a run (the seed is logged).

// faultSeed is CONNTRACK_FAULT_SEED, or a new seed each run (logged, so a
// failure can be replayed).
func faultSeed(t *testing.T) int64 {
	seed := time.Now().UnixNano() % 1e9
	if s := os.Getenv("CONNTRACK_FAULT_SEED"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("CONNTRACK_FAULT_SEED: %q is not a number", s)
		}
		seed = n
	}
	t.Logf("seed %d (replay with CONNTRACK_FAULT_SEED=%d)", seed, seed)
	return seed
}

func fullSweep() bool { return os.Getenv("CONNTRACK_FAULT_SWEEP") == "full" }

// faultCount is the positive number in the environment variable name, or
// def: a larger sample than the default without the full sweep.
func faultCount(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s: %q is not a positive number", name, s)
	}
	return n
}

// faultCase is one resource type toggled between two configurations.
type faultCase struct {
	name string
	// setup writes the host's foreign content before the first apply.
	setup func(t *testing.T, h *testhost.Host)
	// body is the resource block for configuration i (0 or 1).
	body func(h *testhost.Host, addr string, port, i int) string
	// files are the managed files whose bytes must be old or new.
	files []string
	// read, when set, reads one of files instead of its content (a
	// firewall service's "files" are its boot links).
	read func(t *testing.T, h *testhost.Host, file string) string
	// live fails unless the host's live state is configuration i's.
	live func(t *testing.T, h *testhost.Host, i int) error
	// settle, when set, is a host script that prints 0 once the host has
	// stopped acting on its own after a fault (the NOTRACK rollback timer).
	settle string
}

const faultRollback = 5

// faultGuardWindow is the longest rollback window of a guarded change in
// the cases: a firewall service start's fixed 30 seconds.
const faultGuardWindow = 30 * time.Second

// faultCommandTimeout is the rig's command_timeout: long enough that a
// clean apply never times out on a loaded machine (at 10 s, reads and
// guarded applies of the 31 KB sysctl file did, with both test tiers and an
// image build running), short enough to bound the watchdog that removes a
// write's temp file after a half-open cut. A cut itself is noticed at once:
// the proxy closes the connection.
const faultCommandTimeout = 30 * time.Second

// faultGuardsPending prints how many guarded changes of the host's network
// namespace are armed or being restored (their /run directory exists until
// confirmed or restored; see conntrack.ArmScript).
const faultGuardsPending = `ns=$(stat -L -c %i /proc/self/ns/net); find /run -maxdepth 1 -type d -name "conntrack-tf-guard.$ns.*" | wc -l`

// faultTempDirs are where a write leaves a temp file: the directories of
// every case's managed files.
const faultTempDirs = "/etc /etc/sysctl.d /etc/iptables /etc/sysconfig /etc/modprobe.d"

func faultCases() []faultCase {
	sysctlFile := func(t *testing.T, h *testhost.Host) {
		b, err := os.ReadFile("../conffile/sysctl/testdata/kicksecure-990-security-misc.conf-long")
		if err != nil {
			t.Fatal(err)
		}
		writeHostFile(t, h, defaultSysctlFile, string(b))
	}
	return []faultCase{{
		name:  "limits",
		setup: sysctlFile,
		body: func(_ *testhost.Host, addr string, port, i int) string {
			return fmt.Sprintf(`
resource "conntrack_limits" "r" {
  host = %q
  port = %d
  tcp_timeout_established = %d
  tcp_timeout_close_wait  = %d
}`, addr, port, 4000+i, 70+i)
		},
		files: []string{defaultSysctlFile},
		live: func(t *testing.T, h *testhost.Host, i int) error {
			for key, want := range map[string]int64{"tcp_timeout_established": int64(4000 + i), "tcp_timeout_close_wait": int64(70 + i)} {
				if got := hostInt(t, h, "cat /proc/sys/net/netfilter/nf_conntrack_"+key); got != want {
					return fmt.Errorf("running %s = %d, want %d", key, got, want)
				}
			}
			return nil
		},
	}, {
		name: "notrack",
		setup: func(t *testing.T, h *testhost.Host) {
			hostValue(t, h, "mkdir -p /etc/iptables")
			writeHostFile(t, h, "/etc/iptables/rules.v4", realRules(t))
		},
		body: func(_ *testhost.Host, addr string, port, i int) string {
			return fmt.Sprintf(`
resource "conntrack_notrack_rule" "r" {
  host             = %q
  ssh_port         = %d
  protocol         = "udp"
  port             = "5353"
  comment          = "fault config %d"
  rollback_timeout = %d
}`, addr, port, i, faultRollback)
		},
		files: []string{"/etc/iptables/rules.v4"},
		live: func(t *testing.T, h *testhost.Host, i int) error {
			raw := liveRaw(t, h)
			if n := strings.Count(raw, fmt.Sprintf("fault config %d\"", i)); n != 2 {
				return fmt.Errorf("configuration %d's rule is live %d times (want 2, both chains):\n%s", i, n, raw)
			}
			if n := strings.Count(raw, "conntrack-tf:"); n != 2 {
				return fmt.Errorf("%d owned rules live, want 2:\n%s", n, raw)
			}
			return nil
		},
	}, {
		// Two keys of a RHEL 7 stock iptables-config: one edited in place,
		// one the resource adds after the file's last line.
		name: "iptables_config",
		setup: func(t *testing.T, h *testhost.Host) {
			hostValue(t, h, "mkdir -p /etc/sysconfig")
			writeHostFile(t, h, "/etc/sysconfig/iptables-config", testdataFile(t, "../conffile/shellvars/testdata/rhel7-stock-iptables-config"))
		},
		body: func(_ *testhost.Host, addr string, port, i int) string {
			return fmt.Sprintf(`
resource "conntrack_iptables_config" "r" {
  host           = %q
  port           = %d
  save_on_stop   = %t
  modules_unload = %t
}`, addr, port, i == 0, i == 1)
		},
		files: []string{"/etc/sysconfig/iptables-config"},
		// What the iptables service sees: it sources the file.
		live: func(t *testing.T, h *testhost.Host, i int) error {
			got := hostValue(t, h, `. /etc/sysconfig/iptables-config && echo "$IPTABLES_SAVE_ON_STOP $IPTABLES_MODULES_UNLOAD"`)
			if want := fmt.Sprintf("%s %s", yesNo(i == 0), yesNo(i == 1)); got != want {
				return fmt.Errorf("the iptables service reads IPTABLES_SAVE_ON_STOP, IPTABLES_MODULES_UNLOAD = %s, want %s", got, want)
			}
			return nil
		},
	}, {
		// Which modules a long real-world blacklist.conf blacklists and
		// disables. A namespace host runs this machine's kernel: nothing
		// is unloaded.
		name: "module_blacklist",
		setup: func(t *testing.T, h *testhost.Host) {
			writeHostFile(t, h, "/etc/modprobe.d/blacklist.conf", testdataFile(t, "../conffile/modprobe/testdata/ubuntu-blacklist.conf"))
		},
		body: func(_ *testhost.Host, addr string, port, i int) string {
			return fmt.Sprintf(`
resource "conntrack_module_blacklist" "r" {
  host    = %q
  port    = %d
  modules = ["nf_conntrack_ftp", %q]
  unload  = false
}`, addr, port, faultBlacklisted[i])
		},
		files: []string{"/etc/modprobe.d/blacklist.conf"},
		// What modprobe itself makes of its configuration.
		live: func(t *testing.T, h *testhost.Host, i int) error {
			lines := map[string]bool{}
			for _, l := range strings.Split(hostValue(t, h, "modprobe -c"), "\n") {
				lines[strings.Join(strings.Fields(l), " ")] = true
			}
			for _, m := range []string{"nf_conntrack_ftp", faultBlacklisted[i]} {
				for _, l := range []string{"blacklist " + m, "install " + m + " /bin/false"} {
					if !lines[l] {
						return fmt.Errorf("modprobe -c has no %q line", l)
					}
				}
			}
			if other := faultBlacklisted[1-i]; lines["blacklist "+other] || lines["install "+other+" /bin/false"] {
				return fmt.Errorf("modprobe -c still blacklists %s, which configuration %d does not list", other, i)
			}
			return nil
		},
	}, {
		// The SysV iptables and ip6tables services (iptables-services'
		// semantics) stopped and disabled, or enabled and started: their
		// boot links are the "files", the running rules the live state.
		name: "firewall_service",
		setup: func(t *testing.T, h *testhost.Host) {
			rules4 := testdataFile(t, "../conffile/iptables/testdata/rhel7-stock-sysconfig-iptables") + faultServiceRaw
			rules6 := testdataFile(t, "../conffile/iptables/testdata/rhel7-stock-sysconfig-ip6tables")
			hostValue(t, h, testhost.IptablesServicesScript(false, rules4, rules6))
		},
		body: func(_ *testhost.Host, addr string, port, i int) string {
			return fmt.Sprintf(`
resource "conntrack_firewall_service" "r" {
  host     = %q
  port     = %d
  services = ["iptables", "ip6tables"]
  enabled  = %t
  running  = %t
}`, addr, port, i == 1, i == 1)
		},
		files: []string{"/etc/rc[0-6S].d/[SK][0-9][0-9]iptables", "/etc/rc[0-6S].d/[SK][0-9][0-9]ip6tables"},
		read: func(t *testing.T, h *testhost.Host, links string) string {
			return hostValue(t, h, "ls -1d "+links+" 2>/dev/null; true")
		},
		live: func(t *testing.T, h *testhost.Host, i int) error {
			on := i == 1
			for _, svc := range []string{"iptables", "ip6tables"} {
				got := hostValue(t, h, fmt.Sprintf(`e=no; r=no
for l in /etc/rc[2345].d/S??%[1]s; do [ -e "$l" ] && e=yes; done
[ -e /var/lock/subsys/%[1]s ] && r=yes
echo "$e $r"`, svc))
				if want := yesNo(on) + " " + yesNo(on); got != want {
					return fmt.Errorf("%s: enabled, running = %s, want %s", svc, got, want)
				}
			}
			for _, c := range []struct{ cmd, rule string }{
				{"iptables -w -t raw -S PREROUTING", "--notrack"},
				{"iptables -w -S INPUT", "--dport 22"},
				{"ip6tables -w -S INPUT", "ipv6-icmp"},
			} {
				if rules := hostValue(t, h, c.cmd); strings.Contains(rules, c.rule) != on {
					return fmt.Errorf("%s: the rules file's %q rule loaded is %t, want %t:\n%s", c.cmd, c.rule, !on, on, rules)
				}
			}
			return nil
		},
		// A stop or start the cut connection left running on the host
		// finishes on its own: wait until the links, lock files and rules
		// stay the same for a second.
		settle: `s() { ls -1d /etc/rc[0-6S].d/*iptables /var/lock/subsys/* 2>/dev/null; iptables -w -S; iptables -w -t raw -S; ip6tables -w -S; }
a=$(s); sleep 1; b=$(s); [ "$a" = "$b" ] && echo 0 || echo 1`,
	}}
}

// faultBlacklisted is the module configuration i blacklists beside
// nf_conntrack_ftp.
var faultBlacklisted = [2]string{"xt_state", "nf_conntrack_sip"}

// faultServiceRaw is a raw table with a NOTRACK rule of
// conntrack_notrack_rule, appended to the stock rules the iptables service
// restores.
const faultServiceRaw = `*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -p udp -m udp --dport 5353 -m comment --comment "conntrack-tf:0123456789abcdef" -j CT --notrack
COMMIT
`

func testdataFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// faultRig is one host, its fault proxy and a Terraform working directory
// whose configuration toggles between a case's two configurations.
type faultRig struct {
	t     *testing.T
	fc    faultCase
	h     *testhost.Host
	proxy *testhost.FaultProxy
	cli   *terraformCLI
	cur   int          // the configuration the host converged to
	want  [2][]string  // the managed files' content under each configuration
	stats faultResults // what the faults did
}

type faultResults struct {
	injected, failed, succeeded, old, installed, corrupted, temps, locked, lied int
}

func (r faultResults) String() string {
	return fmt.Sprintf("%d faults injected (%d applies failed, %d succeeded): files %d old, %d new, %d corrupted; %d temp files left; %d locked hosts; %d empty plans over an unconverged host",
		r.injected, r.failed, r.succeeded, r.old, r.installed, r.corrupted, r.temps, r.locked, r.lied)
}

// faultProvider is the provider block: the host key pinned (the proxy's
// address is in no known_hosts file), short timeouts so a cut connection
// is noticed soon.
func faultProvider(h *testhost.Host) string {
	return fmt.Sprintf(`
provider "conntrack" {
  private_key_file = %q
  host_key         = %q
  connect_timeout  = "10s"
  command_timeout  = "%s"
}
`, h.ClientKeyFile(), ssh.FingerprintSHA256(h.HostKey), faultCommandTimeout)
}

// newFaultRig starts the host and proxy, writes the foreign content and
// converges configuration 0 then 1 through the proxy with newCLI's
// Terraform; it returns the rig and the client bytes the apply of 1 sent.
func newFaultRig(t *testing.T, fc faultCase, newCLI func(config string) *terraformCLI) (*faultRig, int64, time.Duration) {
	h := testhost.New(t, testhost.Options{})
	r := &faultRig{t: t, fc: fc, h: h, proxy: testhost.NewFaultProxy(t, h)}
	fc.setup(t, h)
	r.cli = newCLI(r.config(0))
	r.converge(0)
	r.want[0] = r.files()
	r.cli.configure(r.config(1))
	start := time.Now()
	total := r.converge(1)
	took := time.Since(start)
	r.want[1] = r.files()
	for i, f := range fc.files {
		if r.want[0][i] == r.want[1][i] {
			t.Fatalf("%s is the same under both configurations", f)
		}
	}
	// And back: the faults toggle both ways, so the range is the shorter.
	r.cli.configure(r.config(0))
	total = min(total, r.converge(0))
	r.cur = 0
	return r, total, took
}

func (r *faultRig) config(i int) string {
	return faultProvider(r.h) + r.fc.body(r.h, r.proxy.Host, r.proxy.Port, i)
}

func (r *faultRig) files() []string {
	var out []string
	for _, f := range r.fc.files {
		if r.fc.read != nil {
			out = append(out, r.fc.read(r.t, r.h, f))
			continue
		}
		out = append(out, hostFile(r.t, r.h, f))
	}
	return out
}

// tf runs terraform and returns its exit status and output (stdout then
// stderr); a run that could not start fails the test.
func (r *faultRig) tf(args ...string) (int, string) {
	return r.tfCmd(nil, args...)
}

// tfCmd runs terraform; during, when set, is called with the running
// command (to inject a fault into it) and must return before it ends.
func (r *faultRig) tfCmd(during func(*exec.Cmd), args ...string) (int, string) {
	r.t.Helper()
	cmd := exec.Command(os.Getenv("TF_ACC_TERRAFORM_PATH"), args...)
	cmd.Dir, cmd.Env = r.cli.dir, r.cli.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	if during != nil {
		during(cmd)
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), out.String()
	}
	r.t.Fatalf("terraform %v: %v", args, err)
	return -1, ""
}

// converge applies configuration i cleanly and checks that the host holds
// it and the next plan is empty. It returns the client bytes the apply
// alone sent: the range a fault sweep's cut points are drawn from (the
// plan after it would put points where no apply reaches).
func (r *faultRig) converge(i int) int64 {
	r.t.Helper()
	mark := r.proxy.Sent()
	if code, out := r.tf("apply", "-auto-approve", "-input=false", "-no-color"); code != 0 {
		r.t.Fatalf("clean apply of configuration %d: exit %d\n%s", i, code, out)
	}
	sent := r.proxy.Sent() - mark
	if code, out := r.tf("plan", "-detailed-exitcode", "-input=false", "-no-color"); code != 0 {
		r.t.Fatalf("plan after a clean apply of configuration %d: exit %d, want 0 (no changes)\n%s", i, code, out)
	}
	if err := r.fc.live(r.t, r.h, i); err != nil {
		r.t.Fatalf("after a clean apply of configuration %d: %v", i, err)
	}
	// The live check must be able to fail: it tells the two apart.
	if r.fc.live(r.t, r.h, 1-i) == nil {
		r.t.Fatalf("after a clean apply of configuration %d the live check passes for configuration %d too", i, 1-i)
	}
	return sent
}

// poll runs script on the host until it prints "0" or timeout passes and
// returns the last output.
func (r *faultRig) poll(script string, timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for {
		out := hostValue(r.t, r.h, script)
		if out == "0" || time.Now().After(deadline) {
			return out
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// fault applies the other configuration with inject arranging the fault
// (it may run terraform itself through run), then checks the host and
// converges it. what names the fault in messages.
func (r *faultRig) fault(what string, inject func(run func(during func(*exec.Cmd)) (int, string)) (int, string)) {
	r.t.Helper()
	t, target := r.t, 1-r.cur
	r.cli.configure(r.config(target))
	code, out := inject(func(during func(*exec.Cmd)) (int, string) {
		return r.tfCmd(during, "apply", "-auto-approve", "-input=false", "-no-color")
	})
	r.stats.injected++
	if code != 0 {
		var errs []string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "Error:") {
				errs = append(errs, strings.TrimSpace(l))
			}
		}
		t.Logf("%s: apply exit %d: %s", what, code, strings.Join(errs, " | "))
	}
	if code == 0 {
		r.stats.succeeded++
	} else {
		r.stats.failed++
		// A guarded change (a NOTRACK rule, a service start) the fault
		// left unconfirmed is undone by the host's timer: wait for it, so
		// that it cannot undo the clean apply below.
		if left := r.poll(faultGuardsPending, faultGuardWindow+10*time.Second); left != "0" {
			t.Errorf("%s: %s guarded changes still pending %s after the fault", what, left, faultGuardWindow+10*time.Second)
		}
		if r.fc.settle != "" {
			r.poll(r.fc.settle, (faultRollback+3)*time.Second)
		}
	}
	// The host finishes on its own: a write script whose client is gone
	// removes its temp file (at the latest after command_timeout), a lock
	// holder exits when its session closes.
	if left := r.poll("find "+faultTempDirs+" -maxdepth 1 -name '.conntrack-tf.*' 2>/dev/null | wc -l", faultCommandTimeout+5*time.Second); left != "0" {
		r.stats.temps++
		t.Errorf("%s: %s temp files left in /etc:\n%s", what, left, hostValue(t, r.h, "find /etc -maxdepth 2 -name '.conntrack-tf.*'"))
	}
	if held := r.poll("flock -n "+sshx.LockFile+" true 2>/dev/null; echo $?", 15*time.Second); held != "0" {
		r.stats.locked++
		t.Errorf("%s: the host lock %s is still held 15 s after the fault:\n%s", what, sshx.LockFile, hostValue(t, r.h, "cat "+sshx.LockFile+"; ps -ef"))
	}
	got := r.files()
	for i, f := range r.fc.files {
		switch got[i] {
		case r.want[r.cur][i]:
			r.stats.old++
		case r.want[target][i]:
			r.stats.installed++
		default:
			r.stats.corrupted++
			t.Errorf("%s: %s holds %d bytes, neither the old (%d) nor the new (%d) content:\n%s", what, f, len(got[i]), len(r.want[r.cur][i]), len(r.want[target][i]), got[i])
		}
	}
	// A plan that says "no changes" must mean the host holds the new
	// configuration, files and live state.
	if code, pout := r.tf("plan", "-detailed-exitcode", "-input=false", "-no-color"); code == 0 {
		var bad []string
		if !slices.Equal(got, r.want[target][:]) {
			bad = append(bad, "the files are not the new content")
		}
		if err := r.fc.live(t, r.h, target); err != nil {
			bad = append(bad, err.Error())
		}
		if len(bad) > 0 {
			r.stats.lied++
			t.Errorf("%s: the plan after the fault is empty, yet %s\napply (exit %d):\n%s", what, strings.Join(bad, "; "), code, out)
		}
	} else if code != 2 {
		t.Errorf("%s: plan after the fault: exit %d\n%s", what, code, pout)
	}
	r.converge(target)
	if got := r.files(); !slices.Equal(got, r.want[target][:]) {
		t.Fatalf("%s: after a clean apply the files are not configuration %d's:\n%q\nwant\n%q", what, target, got, r.want[target])
	}
	r.cur = target
}

// TestAccFaultCutSweep cuts the provider's SSH connection at points spread
// over the client bytes of a whole apply (refresh, lock, reads, writes,
// live changes, NOTRACK arm and confirm) of each resource type: a seeded
// sample of 8 per resource (CONNTRACK_FAULT_POINTS), or every 64th byte
// with CONNTRACK_FAULT_SWEEP=full.
func TestAccFaultCutSweep(t *testing.T) {
	t.Parallel()
	seed := faultSeed(t)
	for _, fc := range faultCases() {
		t.Run(fc.name, func(t *testing.T) {
			r, total, _ := newFaultRig(t, fc, func(config string) *terraformCLI { return newTerraformCLI(t, config) })
			// Byte counts vary between applies (by a tenth and more: key
			// exchange, window adjusts, the refresh), so points are spread
			// over the first 85% of the shorter calibration apply; a point an
			// apply did not reach is counted, not failed, and re-asserted
			// below through the share of cuts that happened.
			var points []int64
			for off := int64(1); off < total*85/100; off += 64 {
				points = append(points, off)
			}
			if sample := faultCount(t, "CONNTRACK_FAULT_POINTS", 8); !fullSweep() && len(points) > sample {
				rnd := rand.New(rand.NewSource(seed))
				picked := []int64{points[0]}
				for _, i := range rnd.Perm(len(points) - 1)[:sample-1] {
					picked = append(picked, points[i+1])
				}
				slices.Sort(picked)
				points = picked
			}
			cuts, unreached := 0, 0
			for _, off := range points {
				before := r.proxy.Cuts()
				var sent int64 // client bytes of the faulted apply
				r.fault(fmt.Sprintf("cut after %d of %d client bytes", off, total), func(run func(func(*exec.Cmd)) (int, string)) (int, string) {
					mark := r.proxy.Sent()
					r.proxy.CutAfter(off)
					code, out := run(nil)
					r.proxy.ClearCut()
					sent = r.proxy.Sent() - mark
					t.Logf("cut after %d bytes: cut %t, apply exit %d", off, r.proxy.Cuts() > before, code)
					return code, out
				})
				switch {
				case r.proxy.Cuts() > before:
					cuts++
				case sent < off:
					unreached++
					t.Logf("cut after %d bytes not reached: that apply sent %d client bytes", off, sent)
				default:
					t.Errorf("cut after %d bytes did not happen although the apply sent %d client bytes", off, sent)
				}
			}
			t.Logf("%s: %d cut points over %d client bytes of an apply, %d cuts happened, %d not reached; %s", fc.name, len(points), total, cuts, unreached, r.stats)
			if cuts < len(points)*3/4 {
				t.Fatalf("only %d of %d planned cuts happened (%d not reached): the sweep no longer covers the apply", cuts, len(points), unreached)
			}
		})
	}
}

// buildProvider builds the provider binary into a directory of its own and
// returns a CLI config file that makes Terraform run it (dev_overrides: no
// terraform init) and the binary's path, which no other process has.
func buildProvider(t *testing.T) (cliConfig, binary string) {
	t.Helper()
	dir := t.TempDir()
	binary = filepath.Join(dir, "terraform-provider-conntrack")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cliConfig = filepath.Join(dir, "terraformrc")
	// OpenTofu resolves the short source to its own registry (make test-matrix).
	addr := "registry.terraform.io/conntrack-ops/conntrack"
	if h := os.Getenv("TF_ACC_PROVIDER_HOST"); h != "" {
		addr = h + "/conntrack-ops/conntrack"
	}
	rc := fmt.Sprintf(`provider_installation {
  dev_overrides {
    %q = %q
  }
  direct {}
}
`, addr, dir)
	if err := os.WriteFile(cliConfig, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	return cliConfig, binary
}

// TestAccFaultKillAndInterrupt kills the provider process (kill -9) and
// interrupts terraform (SIGINT, as Ctrl-C or a cancelled CI job) at seeded
// random moments of an apply of each resource type; the moment is drawn
// from 0 to the duration of a clean apply. Per resource: 3 kills and 2
// interrupts (CONNTRACK_FAULT_KILLS, CONNTRACK_FAULT_INTERRUPTS), or 30 and
// 20 with CONNTRACK_FAULT_SWEEP=full.
func TestAccFaultKillAndInterrupt(t *testing.T) {
	t.Parallel()
	seed := faultSeed(t)
	cliConfig, binary := buildProvider(t)
	kills, interrupts := faultCount(t, "CONNTRACK_FAULT_KILLS", 3), faultCount(t, "CONNTRACK_FAULT_INTERRUPTS", 2)
	if fullSweep() {
		kills, interrupts = 30, 20
	}
	rnd := rand.New(rand.NewSource(seed))
	for _, fc := range faultCases() {
		t.Run(fc.name, func(t *testing.T) {
			r, _, took := newFaultRig(t, fc, func(config string) *terraformCLI {
				c := &terraformCLI{t: t, dir: t.TempDir(), env: append(os.Environ(), "TF_CLI_CONFIG_FILE="+cliConfig,
					"CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1")}
				c.configure(config)
				return c
			})
			landed := map[string]int{}
			faults := make([]string, 0, kills+interrupts)
			for range kills {
				faults = append(faults, "kill -9 of the provider")
			}
			for range interrupts {
				faults = append(faults, "SIGINT to terraform")
			}
			rnd.Shuffle(len(faults), func(i, j int) { faults[i], faults[j] = faults[j], faults[i] })
			inject := func(what string, after time.Duration) {
				label := fmt.Sprintf("%s %s into the apply", what, after.Round(time.Millisecond))
				r.fault(label, func(run func(func(*exec.Cmd)) (int, string)) (int, string) {
					hit := false
					code, out := run(func(cmd *exec.Cmd) {
						time.Sleep(after)
						if strings.HasPrefix(what, "kill") {
							// Only the plugin process this test built has
							// this path on its command line.
							hit = exec.Command("pkill", "-9", "-f", binary).Run() == nil
						} else {
							hit = cmd.Process.Signal(os.Interrupt) == nil
						}
					})
					if strings.HasPrefix(what, "SIGINT") {
						hit = hit && strings.Contains(out, "Interrupt received")
					}
					if hit {
						landed[what]++
					}
					t.Logf("%s: landed %t, apply exit %d", label, hit, code)
					return code, out
				})
			}
			for _, what := range faults {
				inject(what, time.Duration(rnd.Int63n(int64(took))))
			}
			// A moment drawn from the whole clean apply may fall after the
			// provider exited (applies vary in length): until one kill has
			// landed, kill again in the first half, where the provider runs.
			for extra := 0; landed["kill -9 of the provider"] == 0 && extra < 5; extra++ {
				kills++
				inject("kill -9 of the provider", time.Duration(rnd.Int63n(int64(took/2))))
			}
			t.Logf("%s: a clean apply takes %s; %d kills (%d landed while the provider ran), %d interrupts (%d landed); %s",
				fc.name, took.Round(time.Millisecond), kills, landed["kill -9 of the provider"], interrupts, landed["SIGINT to terraform"], r.stats)
			if landed["kill -9 of the provider"] == 0 {
				t.Fatal("no kill landed while the provider ran")
			}
		})
	}
}
