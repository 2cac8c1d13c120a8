package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

const mainTF = `terraform {
  required_providers { conntrack = { source = "conntrack-ops/conntrack" } }
}
variable "hosts" { type = set(string) }
provider "conntrack" {
  private_key_file = %q
  known_hosts_file = %q
}
data "conntrack_host" "h" {
  for_each = var.hosts
  host     = each.value
}
# Per-namespace settings only: max and buckets are read-only in a namespace.
resource "conntrack_limits" "h" {
  for_each                = var.hosts
  host                    = each.value
  tcp_timeout_established = 3600
  sysctls                 = { udp_timeout = 30 }
}
resource "conntrack_notrack_rule" "h" {
  for_each = var.hosts
  host     = each.value
  protocol = "udp"
  port     = "53"
}
# The bench hosts have no iptables-services: the file is written all the same.
resource "conntrack_iptables_config" "h" {
  for_each         = var.hosts
  host             = each.value
  modules_unload   = false
  sysctl_load_list = ".nf_conntrack"
}
# A namespace host shares the machine's kernel: never unload.
resource "conntrack_module_blacklist" "h" {
  for_each = var.hosts
  host     = each.value
  unload   = false
}
# Neither service is installed on a bench host, which is stopped and
# disabled already: the apply reads and changes nothing.
resource "conntrack_firewall_service" "h" {
  for_each = var.hosts
  host     = each.value
  enabled  = false
  running  = false
}
output "fill" { value = { for k, v in data.conntrack_host.h : k => v.fill_percent } }
`

// floorTF has the same graph shape with a builtin resource, one instance per
// host for each object above (the data source and the five resources): what
// Terraform itself costs, with no plugin process and no network.
const floorTF = `variable "hosts" { type = set(string) }
resource "terraform_data" "h" {
  for_each = var.hosts
  input    = each.value
}
resource "terraform_data" "limits" {
  for_each = var.hosts
  input    = { host = each.value, tcp_timeout_established = 3600, udp_timeout = 30 }
}
resource "terraform_data" "notrack" {
  for_each = var.hosts
  input    = { host = each.value, protocol = "udp", port = "53" }
}
resource "terraform_data" "iptables_config" {
  for_each = var.hosts
  input    = { host = each.value, modules_unload = false, sysctl_load_list = ".nf_conntrack" }
}
resource "terraform_data" "blacklist" {
  for_each = var.hosts
  input    = { host = each.value, unload = false }
}
resource "terraform_data" "firewall_service" {
  for_each = var.hosts
  input    = { host = each.value, enabled = false, running = false }
}
`

// resourcesPerHost is how many instances each configuration has per host.
const resourcesPerHost = 6

// hostCheck is one thing the apply converges on every host: a shell script
// run inside the host and what it must print (surrounding space trimmed).
type hostCheck struct{ what, script, want string }

// applied is what the apply makes true on every host, checked there
// afterwards: every resource but the NOTRACK rule, whose apply only
// succeeds after a new SSH login confirmed the change. The timeouts also
// show that conntrack is still there (unload = false): their sysctls go
// with the module.
var applied = []hostCheck{
	{"conntrack_limits: nf_conntrack_tcp_timeout_established", "cat /proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established", "3600"},
	{"conntrack_limits: nf_conntrack_udp_timeout", "cat /proc/sys/net/netfilter/nf_conntrack_udp_timeout", "30"},
	// Read the way the iptables service reads it: sourced by the shell.
	{"conntrack_iptables_config: IPTABLES_MODULES_UNLOAD and IPTABLES_SYSCTL_LOAD_LIST in /etc/sysconfig/iptables-config",
		`. /etc/sysconfig/iptables-config && echo "$IPTABLES_MODULES_UNLOAD $IPTABLES_SYSCTL_LOAD_LIST"`, "no .nf_conntrack"},
	{"conntrack_module_blacklist: blacklist line in /etc/modprobe.d/blacklist.conf",
		"grep -cx 'blacklist nf_conntrack' /etc/modprobe.d/blacklist.conf", "1"},
	{"conntrack_module_blacklist: install line in /etc/modprobe.d/blacklist.conf",
		"grep -cx 'install nf_conntrack /bin/false' /etc/modprobe.d/blacklist.conf", "1"},
	// What the provider reads on a SysV host: a start link in runlevels
	// 2-5 is enabled, a lock file in /var/lock/subsys running.
	{"conntrack_firewall_service: start links and lock files of iptables and ip6tables",
		"ls -d /etc/rc[2345].d/S[0-9][0-9]ip6tables /etc/rc[2345].d/S[0-9][0-9]iptables /var/lock/subsys/ip6tables /var/lock/subsys/iptables 2>/dev/null | wc -l", "0"},
}

// writeConfigs writes dir/main, dir/floor, the key, known_hosts and the CLI
// config, and returns the CLI config's path.
func writeConfigs(dir, provider string, hosts []*testhost.Host) (string, error) {
	var known strings.Builder
	addrs := make([]string, len(hosts))
	for i, h := range hosts {
		known.WriteString(h.KnownHostsLine() + "\n")
		addrs[i] = h.Addr
	}
	vars, _ := json.Marshal(map[string]any{"hosts": addrs})
	// A copy of the key: the hosts' own copy lives in a host's directory.
	key, kh, rc := filepath.Join(dir, "client_key"), filepath.Join(dir, "known_hosts"), filepath.Join(dir, "terraformrc")
	files := map[string]string{
		key: string(hosts[0].ClientKeyPEM),
		kh:  known.String(),
		rc: fmt.Sprintf("provider_installation {\n  dev_overrides {\n    %q = %q\n  }\n  direct {}\n}\n",
			"registry.terraform.io/conntrack-ops/conntrack", filepath.Dir(provider)),
		filepath.Join(dir, "main", "main.tf"):                fmt.Sprintf(mainTF, key, kh),
		filepath.Join(dir, "main", "terraform.tfvars.json"):  string(vars),
		filepath.Join(dir, "floor", "main.tf"):               floorTF,
		filepath.Join(dir, "floor", "terraform.tfvars.json"): string(vars),
	}
	for path, content := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			return "", err
		}
	}
	return rc, os.MkdirAll(filepath.Join(dir, "logs"), 0o755)
}

// tfEnv overrides any TF_CLI_CONFIG_FILE or TF_LOG* of the caller's: os/exec
// keeps the last value of a repeated variable.
func tfEnv(rc string, extra ...string) []string {
	env := append(os.Environ(), "TF_CLI_CONFIG_FILE="+rc, "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1", "TF_LOG=", "TF_LOG_CORE=")
	return append(env, extra...)
}

// tfRun is one terraform command in one configuration directory.
type tfRun struct {
	dir, log string
	args     []string
	wantExit int              // 0, or 2 for a plan with -detailed-exitcode that has changes
	hosts    []*testhost.Host // whose sshd logins to count; nil for the floor
	heapDir  string           // CONNTRACK_HEAP_PROFILE for a memprofile build
}

type runStats struct {
	log       string // the run's terraform log
	wall      time.Duration
	peakRSSKB int64
	providers int             // provider processes seen during the run
	logins    []int           // SSH logins per host (in the order of tfRun.hosts)
	commands  []remoteCommand // every remote command the provider logged
	// tfCPU is the CPU time of terraform and its providers (they are its
	// children); hostCPU that of the hosts' sshd and everything it ran
	// (logins, shells, remote commands). On one machine they share its
	// CPUs, so they say where the wall time went.
	tfCPU, hostCPU time.Duration
}

// terraform runs one terraform command, watches its provider processes and
// counts the SSH logins and remote commands it caused. The provider logs at
// DEBUG to the run's own file: every run pays the same for it.
func terraform(ctx context.Context, cfg config, rc string, r tfRun) (runStats, error) {
	var s runStats
	before, err := logins(r.hosts)
	if err != nil {
		return s, err
	}
	hostCPUBefore := hostsCPU(r.hosts)
	if err := os.Remove(r.log); err != nil && !errors.Is(err, os.ErrNotExist) {
		return s, err // terraform appends to the log file
	}
	cmd := exec.CommandContext(ctx, cfg.terraform, slices.Concat(r.args, []string{"-input=false", "-lock=false", "-no-color"})...)
	cmd.Dir, cmd.Env = r.dir, tfEnv(rc, "TF_LOG_PROVIDER=DEBUG", "TF_LOG_PATH="+r.log)
	if r.heapDir != "" {
		if err := os.MkdirAll(r.heapDir, 0o755); err != nil {
			return s, err
		}
		cmd.Env = append(cmd.Env, "CONNTRACK_HEAP_PROFILE="+r.heapDir)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Its own process group, so an interrupt kills terraform and its plugins
	// together rather than leaving a provider behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return s, err
	}
	done, polled := make(chan struct{}), make(chan runStats, 1)
	go func() { polled <- pollProviders(cmd.Process.Pid, cfg.provider, done) }()
	_ = cmd.Wait() // its exit status is checked below
	wall := time.Since(start)
	close(done)
	s = <-polled
	s.wall, s.log = wall, r.log
	s.tfCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	s.hostCPU = hostsCPU(r.hosts) - hostCPUBefore
	if ctx.Err() != nil {
		return s, fmt.Errorf("interrupted: %w", ctx.Err())
	}
	what := fmt.Sprintf("terraform %s in %s", r.args[0], r.dir)
	if code := cmd.ProcessState.ExitCode(); code != r.wantExit {
		return s, fmt.Errorf("%s: exit status %d, want %d (%s)\n%s", what, code, r.wantExit, exitMeaning(r.wantExit), out.Bytes())
	}
	after, err := logins(r.hosts)
	if err != nil {
		return s, err
	}
	for i := range after {
		s.logins = append(s.logins, after[i]-before[i])
	}
	if s.commands, err = remoteCommands(r.log); err != nil {
		return s, fmt.Errorf("%s: %w", what, err)
	}
	return s, nil
}

func exitMeaning(code int) string {
	if code == 2 {
		return "-detailed-exitcode: changes planned"
	}
	return "no changes, no errors"
}

// pollProviders samples /proc every 10 ms until done for children of
// terraform running the provider binary, and keeps their largest VmHWM (the
// kernel's own peak RSS, so samples between peaks lose nothing). It runs for
// the floor too, so both pay the same for being watched.
func pollProviders(tfPID int, provider string, done <-chan struct{}) runStats {
	var s runStats
	others := map[int]bool{} // not terraform's children: never look again
	providers := map[int]bool{}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || others[pid] {
				continue
			}
			status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil {
				continue
			}
			if statusField(status, "PPid") != int64(tfPID) {
				others[pid] = true
				continue
			}
			// A child is checked every time: between fork and exec it still
			// runs terraform's binary. A rebuilt binary reads "... (deleted)".
			if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); strings.TrimSuffix(exe, " (deleted)") != provider {
				continue
			}
			providers[pid] = true
			s.peakRSSKB = max(s.peakRSSKB, statusField(status, "VmHWM"))
		}
		select {
		case <-done:
			s.providers = len(providers)
			return s
		case <-tick.C:
		}
	}
}

// statusField returns a number from /proc/PID/status ("VmHWM:  1234 kB").
func statusField(status []byte, name string) int64 {
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == name+":" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return -1
}

// checkApplied reads the settings the apply made on every host, from inside
// the host: the apply is only timed if it really converged them.
func checkApplied(ctx context.Context, hosts []*testhost.Host) error {
	for _, h := range hosts {
		for _, c := range applied {
			// Exec fails on a non-zero exit, which grep -c has for a count
			// of 0: the output still says what was found.
			got, err := h.Exec(ctx, c.script)
			if got = strings.TrimSpace(got); got != c.want {
				if err == nil {
					err = fmt.Errorf("%q printed %q", c.script, got)
				}
				return fmt.Errorf("after apply, host %s: %s: want %q: %w", h.Addr, c.what, c.want, err)
			}
		}
	}
	return nil
}

// handshake is the median of 15 SSH logins (TCP, key exchange, publickey
// auth) from Go, one after another over the first hosts: the unit of the
// 50-host plan target. A single login varies by some 10 ms with the load.
func handshake(hosts []*testhost.Host) (time.Duration, error) {
	signer, err := ssh.ParsePrivateKey(hosts[0].ClientKeyPEM)
	if err != nil {
		return 0, err
	}
	ds := make([]time.Duration, 15)
	for i := range ds {
		h := hosts[i%len(hosts)]
		cc := &ssh.ClientConfig{User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
			HostKeyCallback: ssh.FixedHostKey(h.HostKey), Timeout: 10 * time.Second}
		start := time.Now()
		c, err := ssh.Dial("tcp", h.Address(), cc)
		if err != nil {
			return 0, fmt.Errorf("handshake with %s: %w", h.Address(), err)
		}
		ds[i] = time.Since(start)
		c.Close()
	}
	return median(ds), nil
}

// loadAverage is the 1, 5 and 15 minute load averages: the machine is
// shared, so the report says how busy it was.
func loadAverage() string {
	b, _ := os.ReadFile("/proc/loadavg")
	load := strings.Fields(string(b))
	return strings.Join(load[:min(3, len(load))], " ")
}

// machineInfo describes the machine for the report in one line.
func machineInfo(ctx context.Context, terraform string) (string, error) {
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	meminfo, _ := os.ReadFile("/proc/meminfo")
	cmd := exec.CommandContext(ctx, terraform, "version")
	cmd.Env = tfEnv(os.DevNull) // an empty CLI config, not a missing one
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s version: %w", terraform, err)
	}
	tf, _, _ := strings.Cut(string(out), "\n")
	return fmt.Sprintf("%d CPUs, %.1f GiB RAM (MemTotal), kernel %s, %s, Go %s; run %s, load average %s at the start.",
		runtime.NumCPU(), float64(statusField(meminfo, "MemTotal"))/(1<<20), strings.TrimSpace(string(kernel)), tf,
		strings.TrimPrefix(runtime.Version(), "go"), time.Now().UTC().Format("2006-01-02 15:04 MST"), loadAverage()), nil
}

// hostsCPU is the CPU time the hosts' sshd processes and their reaped
// descendants used so far: what the logins and remote commands cost the
// machine. A host's sshd reaps a session shortly after the client closes
// it, so this waits (at most 2 s) until no sshd has a child left.
func hostsCPU(hosts []*testhost.Host) time.Duration {
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if !slices.ContainsFunc(hosts, func(h *testhost.Host) bool {
			children, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", h.SSHDPID, h.SSHDPID))
			return len(bytes.TrimSpace(children)) > 0
		}) {
			break
		}
	}
	var ticks int64
	for _, h := range hosts {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", h.SSHDPID))
		if err != nil {
			continue
		}
		// The fields after the command name, which may hold spaces: utime,
		// stime, cutime and cstime are the 14th to 17th of the line.
		_, rest, _ := bytes.Cut(stat, []byte(") "))
		fields := strings.Fields(string(rest))
		if len(fields) < 15 {
			continue
		}
		for _, f := range fields[11:15] {
			n, _ := strconv.ParseInt(f, 10, 64)
			ticks += n
		}
	}
	return time.Duration(ticks) * time.Second / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on Linux.
const clockTicks = 100
