package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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
output "fill" { value = { for k, v in data.conntrack_host.h : k => v.fill_percent } }
`

// floorTF has the same graph shape with a builtin resource: what Terraform
// itself costs for N instances, with no plugin process and no network.
const floorTF = `variable "hosts" { type = set(string) }
resource "terraform_data" "r" {
  for_each = var.hosts
  input    = each.value
}
`

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
	return rc, nil
}

// tfEnv overrides any TF_CLI_CONFIG_FILE of the caller's: os/exec keeps the
// last value of a repeated variable.
func tfEnv(rc string) []string {
	return append(os.Environ(), "TF_CLI_CONFIG_FILE="+rc, "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1")
}

type planStats struct {
	wall      time.Duration
	peakRSSKB int64
	providers int // provider processes seen during the plan
}

// plan runs one `terraform plan` in dir and watches its provider processes.
func plan(ctx context.Context, cfg config, dir, rc string) (planStats, error) {
	cmd := exec.CommandContext(ctx, cfg.terraform, "plan", "-input=false", "-lock=false", "-no-color")
	cmd.Dir, cmd.Env = dir, tfEnv(rc)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Its own process group, so an interrupt kills terraform and its plugins
	// together rather than leaving a provider behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return planStats{}, err
	}
	done, polled := make(chan struct{}), make(chan planStats, 1)
	go func() { polled <- pollProviders(cmd.Process.Pid, cfg.provider, done) }()
	err := cmd.Wait()
	wall := time.Since(start)
	close(done)
	s := <-polled
	s.wall = wall
	if ctx.Err() != nil {
		return s, fmt.Errorf("interrupted: %w", ctx.Err())
	}
	if err != nil {
		return s, fmt.Errorf("terraform plan in %s: %v\n%s", dir, err, out.Bytes())
	}
	return s, nil
}

// pollProviders samples /proc every 10 ms until done for children of
// terraform running the provider binary, and keeps their largest VmHWM (the
// kernel's own peak RSS, so samples between peaks lose nothing). It runs for
// the floor too, so both plans pay the same for being watched.
func pollProviders(tfPID int, provider string, done <-chan struct{}) planStats {
	var s planStats
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

// machineInfo describes the machine for the report in one line.
func machineInfo(ctx context.Context, terraform string) (string, error) {
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	meminfo, _ := os.ReadFile("/proc/meminfo")
	loadavg, _ := os.ReadFile("/proc/loadavg") // the machine is shared: say how busy it was
	load := strings.Fields(string(loadavg))
	if len(load) > 3 {
		load = load[:3]
	}
	cmd := exec.CommandContext(ctx, terraform, "version")
	cmd.Env = tfEnv(os.DevNull) // an empty CLI config, not a missing one
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s version: %w", terraform, err)
	}
	tf, _, _ := strings.Cut(string(out), "\n")
	return fmt.Sprintf("%d CPUs, %.1f GiB RAM (MemTotal), kernel %s, %s, Go %s; run %s, load average %s at the start.",
		runtime.NumCPU(), float64(statusField(meminfo, "MemTotal"))/(1<<20), strings.TrimSpace(string(kernel)), tf,
		strings.TrimPrefix(runtime.Version(), "go"), time.Now().UTC().Format("2006-01-02 15:04 MST"),
		strings.Join(load, " ")), nil
}
