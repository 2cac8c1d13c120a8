package provider

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"

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
