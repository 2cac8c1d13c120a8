package provider

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// TestAccFleetExampleShards runs the fleet guide's example as its users
// would: two shards (copies of examples/guides/fleet/shards/site-a, each with
// its own hosts.json and state) sharing the module, applied at the same time
// by two Terraform processes; then each shard's plan is empty and every
// host has what the module declares.
func TestAccFleetExampleShards(t *testing.T) {
	t.Parallel()
	testhost.SkipUnlessAcc(t)
	cliConfig, _ := buildProvider(t)
	hosts := make([]*testhost.Host, 4)
	for i := range hosts {
		hosts[i] = testhost.New(t, testhost.Options{})
		// As iptables-persistent leaves it, for the NOTRACK rules file.
		hostValue(t, hosts[i], "mkdir -p /etc/iptables")
	}
	fleet := t.TempDir()
	copyTree(t, "../../examples/guides/fleet/modules", filepath.Join(fleet, "modules"))
	shards := map[string][]*testhost.Host{"site-a": hosts[:2], "site-b": hosts[2:]}
	for name, members := range shards {
		dir := filepath.Join(fleet, "shards", name)
		copyTree(t, "../../examples/guides/fleet/shards/site-a", dir)
		addrs := make([]string, len(members))
		for i, h := range members {
			addrs[i] = h.Addr
		}
		inventory, _ := json.Marshal(addrs)
		if err := os.WriteFile(filepath.Join(dir, "hosts.json"), inventory, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	vars := []string{
		"-var", "private_key_file=" + hosts[0].ClientKeyFile(),
		"-var", "known_hosts_file=" + testhost.KnownHostsFile(t, hosts...),
		// Namespace hosts cannot change the global max and buckets.
		"-var", "size_from_memory=false",
	}
	terraform := func(shard string, args ...string) (int, string) {
		cmd := exec.Command(os.Getenv("TF_ACC_TERRAFORM_PATH"), args...)
		cmd.Dir = filepath.Join(fleet, "shards", shard)
		cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+cliConfig, "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1")
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode(), string(out)
		} else if err != nil {
			t.Fatalf("%s: terraform %v: %v", shard, args, err)
		}
		return 0, string(out)
	}

	// The shards' applies run at the same time, as a CI matrix runs them.
	var wg sync.WaitGroup
	for shard := range shards {
		if code, out := terraform(shard, "get", "-no-color"); code != 0 {
			t.Fatalf("%s: get (modules; dev_overrides need no init) exited %d:\n%s", shard, code, out)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := append([]string{"apply", "-auto-approve", "-input=false", "-no-color"}, vars...)
			if code, out := terraform(shard, args...); code != 0 {
				t.Errorf("%s: apply exited %d:\n%s", shard, code, out)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for shard, members := range shards {
		args := append([]string{"plan", "-detailed-exitcode", "-input=false", "-no-color"}, vars...)
		if code, out := terraform(shard, args...); code != 0 {
			t.Errorf("%s: plan after apply exited %d, want 0 (no changes):\n%s", shard, code, out)
		}
		if _, err := os.Stat(filepath.Join(fleet, "shards", shard, "terraform.tfstate")); err != nil {
			t.Errorf("%s has no state of its own: %v", shard, err)
		}
		for _, h := range members {
			if got := hostValue(t, h, "cat /proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established"); got != "3600" {
				t.Errorf("%s: %s: tcp_timeout_established is %s, want 3600", shard, h.Addr, got)
			}
			if raw := hostValue(t, h, "iptables-save -t raw"); !strings.Contains(raw, "--dport 53") || !strings.Contains(raw, "fleet udp 53") {
				t.Errorf("%s: %s: no live NOTRACK rule for udp/53:\n%s", shard, h.Addr, raw)
			}
		}
	}
}

// copyTree copies the regular files under src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}
