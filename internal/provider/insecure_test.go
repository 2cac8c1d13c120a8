package provider

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"golang.org/x/crypto/ssh"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// TestAccInsecureHostKeyWarnsPerHost: with insecure_ignore_host_key the plan
// warns once for each host reached without verification, naming it.
func TestAccInsecureHostKeyWarnsPerHost(t *testing.T) {
	t.Parallel()
	requireAcc(t)
	a := testhost.New(t, testhost.Options{})
	b := testhost.New(t, testhost.Options{})
	diags := planDiagnostics(t, fmt.Sprintf(`
provider "conntrack" {
  private_key_file         = %q
  insecure_ignore_host_key = true
}
data "conntrack_host" "a1" { host = %q }
data "conntrack_host" "a2" { host = %q }
data "conntrack_host" "b"  { host = %q }
`, a.ClientKeyFile(), a.Addr, a.Addr, b.Addr))
	for _, h := range []*testhost.Host{a, b} {
		summary := fmt.Sprintf("Host key of %s not verified (insecure_ignore_host_key)", net.JoinHostPort(h.Addr, "22"))
		n := 0
		for _, d := range diags {
			if d.Severity == "error" {
				t.Fatalf("plan failed: %s: %s", d.Summary, d.Detail)
			}
			if d.Summary == summary {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d warnings %q, want exactly 1; diagnostics: %+v", n, summary, diags)
		}
	}
}

// TestAccInsecureHostKeyDoesNotReachTheBastion: insecure_ignore_host_key is
// the targets' setting; the bastion's own pinned key, or known_hosts, is
// still enforced, and nothing reaches the target.
func TestAccInsecureHostKeyDoesNotReachTheBastion(t *testing.T) {
	t.Parallel()
	requireAcc(t)
	bastion := testhost.New(t, testhost.Options{})
	target := testhost.New(t, testhost.Options{})
	other := testhost.New(t, testhost.Options{}) // a key the bastion does not have
	for name, keySetting := range map[string]string{
		"pinned key":  fmt.Sprintf("host_key = %q", ssh.FingerprintSHA256(other.HostKey)),
		"known_hosts": fmt.Sprintf("known_hosts_file = %q", testhost.KnownHostsFile(t, other)),
	} {
		t.Run(name, func(t *testing.T) {
			diags := planDiagnostics(t, fmt.Sprintf(`
provider "conntrack" {
  private_key_file         = %q
  insecure_ignore_host_key = true
  bastion {
    host             = %q
    private_key_file = %q
    %s
  }
}
data "conntrack_host" "t" { host = %q }
`, target.ClientKeyFile(), bastion.Addr, bastion.ClientKeyFile(), keySetting, target.Addr))
			refused := false
			for _, d := range diags {
				if d.Severity == "error" && strings.Contains(d.Summary+d.Detail, ssh.FingerprintSHA256(bastion.HostKey)) {
					refused = true
				}
			}
			if !refused {
				t.Fatalf("the bastion's key %s was not refused; diagnostics: %+v", ssh.FingerprintSHA256(bastion.HostKey), diags)
			}
			if n, _ := target.Logins(); n != 0 {
				t.Fatalf("%d logins to the target through an unverified bastion", n)
			}
			if n, _ := bastion.Logins(); n != 0 {
				t.Fatalf("%d logins to a bastion whose key was refused", n)
			}
		})
	}
}

func requireAcc(t *testing.T) {
	t.Helper()
	if os.Getenv("TF_ACC") == "" {
		t.Skip("needs namespace test hosts (root) and the Terraform CLI; set TF_ACC=1 (make test)")
	}
}

// insecure_allow_ssh_rsa_sha1 through real Terraform: a real sshd that
// signs its RSA host key only with ssh-rsa (SHA-1) is refused, the error
// naming the setting, and reached with it set; its key is still verified
// (pinned here).
func TestAccInsecureAllowSSHRSASHA1(t *testing.T) {
	t.Parallel()
	requireAcc(t)
	h := testhost.New(t, testhost.Options{})
	hostValue(t, h, "ssh-keygen -q -t rsa -b 2048 -N '' -f /etc/ssh/ctt_rsa_key && "+
		"/usr/sbin/sshd -f /etc/ssh/ctt_sshd_config -o Port=2222 -o HostKey=/etc/ssh/ctt_rsa_key -o HostKeyAlgorithms=ssh-rsa -o PidFile=/etc/ssh/ctt_sha1.pid -E /etc/ssh/ctt_sha1.log")
	t.Cleanup(func() { _, _ = h.Exec(t.Context(), "kill $(cat /etc/ssh/ctt_sha1.pid)") })
	pub := hostValue(t, h, "cat /etc/ssh/ctt_rsa_key.pub")
	config := func(extra string) string {
		return fmt.Sprintf(`
provider "conntrack" {
  private_key_file = %q
  host_key         = %q
  connect_timeout  = "30s"
  %s
}
data "conntrack_host" "h" {
  host = %q
  port = 2222
}`, h.ClientKeyFile(), strings.TrimSpace(pub), extra, h.Addr)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config:      config(""),
			ExpectError: errorLike("offers no host key algorithm this provider accepts", "ssh-rsa", "insecure_allow_ssh_rsa_sha1 = true"),
		}, {
			Config: config("insecure_allow_ssh_rsa_sha1 = true"),
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue("data.conntrack_host.h", tfjsonpath.New("id"), knownvalue.StringExact(h.Addr)),
			},
		}},
	})
}
