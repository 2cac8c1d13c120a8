package provider

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// protoV6ProviderFactories serve the provider in-process to the real
// Terraform CLI (TF_ACC_TERRAFORM_PATH) that terraform-plugin-testing drives.
var protoV6ProviderFactories = map[string]func() (tfprotov6.ProviderServer, error){
	"conntrack": providerserver.NewProtocol6WithError(New("test")()),
}

// providerBlock configures the provider for root logins to the given test
// hosts, verifying their keys; extra is added inside the block.
func providerBlock(t *testing.T, hosts []*testhost.Host, extra string) string {
	t.Helper()
	return fmt.Sprintf(`
provider "conntrack" {
  private_key_file = %q
  known_hosts_file = %q
  connect_timeout  = "30s"
  %s
}
`, hosts[0].ClientKeyFile(), testhost.KnownHostsFile(t, hosts...), extra)
}

// errorLike matches phrases, in order, however Terraform wraps them.
func errorLike(phrases ...string) *regexp.Regexp {
	parts := make([]string, len(phrases))
	for i, phrase := range phrases {
		words := strings.Fields(phrase)
		for j, w := range words {
			words[j] = regexp.QuoteMeta(w)
		}
		parts[i] = strings.Join(words, `\s+`)
	}
	return regexp.MustCompile(`(?s)` + strings.Join(parts, `.*`))
}

// configCase is a resource body that must fail validation with want.
type configCase struct{ body, want string }

// expectConfigErrors checks that each body of resourceType fails at plan
// time with its message, before any host is contacted (the host is a
// loopback address with no sshd, should validation ever let one through).
func expectConfigErrors(t *testing.T, resourceType string, cases map[string]configCase) {
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			resource.UnitTest(t, resource.TestCase{
				ProtoV6ProviderFactories: protoV6ProviderFactories,
				Steps: []resource.TestStep{{
					Config: fmt.Sprintf(`provider "conntrack" {
  insecure_ignore_host_key = true
  password                 = "x"
}
resource %q "r" {
  host = "127.0.0.9"
  %s
}`, resourceType, tc.body),
					ExpectError: errorLike(tc.want),
				}},
			})
		})
	}
}

// envSkipKernelTests, when set, skips the kernel tier (every test that
// boots a qemu guest through kernelHost): make test-matrix sets it.
const envSkipKernelTests = "CONNTRACK_SKIP_KERNEL_TESTS"

// kernelHost boots a kernel test host for a test and returns it, a way to
// run a command on it (failing the test on error) and a known_hosts file
// (valid across Reboot: the guest keeps its key and port).
func kernelHost(t *testing.T, opts testhost.KernelOptions) (*testhost.KernelHost, func(string) string, string) {
	t.Helper()
	if os.Getenv("TF_ACC") == "" {
		t.Skip("kernel host tests boot a qemu guest; set TF_ACC=1 (make test)")
	}
	if os.Getenv(envSkipKernelTests) != "" {
		t.Skipf("%s is set: the kernel tier runs once, in make test (make test-matrix runs the namespace tier on more CLIs)", envSkipKernelTests)
	}
	h := testhost.NewKernel(t, opts)
	run := func(script string) string {
		t.Helper()
		out, err := h.Exec(context.Background(), script)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, []byte(h.KnownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return h, run, kh
}

// kernelConfig is a provider block for a kernel host (known_hosts file kh)
// and one resource on it, `resource "TYPE" "NAME"`, with body.
func kernelConfig(h *testhost.KernelHost, kh, typ, name, body string) string {
	return fmt.Sprintf(`
provider "conntrack" {
  private_key_file = %q
  known_hosts_file = %q
  connect_timeout  = "60s"
}
resource %q %q {
  host = %q
  port = %d
  %s
}`, h.ClientKeyFile(), kh, typ, name, h.Addr, h.Port, body)
}
