package provider

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// ssh_config_file through real Terraform: the provider block names only the
// file; the target's alias resolves to its address, key and known_hosts
// file, and it is reached through the jump host its ProxyJump names (the
// machine itself cannot reach it). The file's Port and User for the target
// are wrong on purpose: the data source's port and the provider's user win.
func TestAccProvider_sshConfigFile(t *testing.T) {
	jump := testhost.New(t, testhost.Options{})
	target := testhost.New(t, testhost.Options{})
	hostValue(t, target, "iptables -A INPUT -p tcp --dport 22 ! -s "+jump.Addr+" -j REJECT --reject-with tcp-reset")
	kh := testhost.KnownHostsFile(t, jump, target)
	file := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(`# as in ~/.ssh/config
Host jump
    HostName %[1]s
    User root
    Port 22

Host web1
    HostName %[2]s
    ProxyJump jump
    Port 2222
    User nobody

Host *
    IdentityFile ~/.ssh/absent_key
    IdentityFile %[3]s
    UserKnownHostsFile %[4]s
`, jump.Addr, target.Addr, target.ClientKeyFile(), kh)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSH_AUTH_SOCK", "") // the file's key, not an agent the machine may run
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: fmt.Sprintf(`
provider "conntrack" {
  ssh_config_file = %q
  user            = "root"
}
data "conntrack_host" "h" {
  host = "web1"
  port = 22
}`, file),
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue("data.conntrack_host.h", tfjsonpath.New("id"), knownvalue.StringExact("web1")),
				statecheck.ExpectKnownValue("data.conntrack_host.h", tfjsonpath.New("memory_bytes"),
					knownvalue.Int64Exact(1024*hostInt(t, target, "awk '/^MemTotal:/ {print $2}' /proc/meminfo"))),
			},
			Check: func(*terraform.State) error {
				if n, _ := target.Logins(); n != 1 {
					return fmt.Errorf("target logins = %d, want 1 (through the jump host)", n)
				}
				if n, _ := jump.Logins(); n != 1 {
					return fmt.Errorf("jump host logins = %d, want 1", n)
				}
				return nil
			},
		}},
	})
}

// Without the file's ProxyJump the target is unreachable, and a file that
// does not parse is an error on the setting: the file is really used.
func TestAccProvider_sshConfigFileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("Host web1\n  Port notaport\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: fmt.Sprintf(`
provider "conntrack" {
  ssh_config_file          = %q
  insecure_ignore_host_key = true
  password                 = "x"
}
data "conntrack_host" "h" { host = "web1" }`, filepath.Join(dir, "missing")),
			ExpectError: errorLike("Cannot read ssh_config_file", "no such file"),
		}, {
			Config: fmt.Sprintf(`
provider "conntrack" {
  ssh_config_file          = %q
  insecure_ignore_host_key = true
  password                 = "x"
}
data "conntrack_host" "h" { host = "web1" }`, bad),
			ExpectError: errorLike(`port "notaport" for web1 is not a port number`),
		}},
	})
}
