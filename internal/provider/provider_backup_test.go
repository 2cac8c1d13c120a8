package provider

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// backup (default off) decides whether replaced files leave backups beside
// them; on, at most 3 per file remain.
func TestAccProvider_backupSetting(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	writeHostFile(t, h, defaultSysctlFile, foreignSysctl)
	config := func(backup string, timeout int) string {
		return providerBlock(t, []*testhost.Host{h}, backup) + fmt.Sprintf(`
resource "conntrack_limits" "h" {
  host = %q
  tcp_timeout_established = %d
}`, h.Addr, timeout)
	}
	backups := func(least, most int) resource.TestCheckFunc {
		return func(*terraform.State) error {
			n, _ := strconv.Atoi(hostValue(t, h, "ls "+defaultSysctlFile+".conntrack-*.bak 2>/dev/null | wc -l"))
			if n < least || n > most {
				return fmt.Errorf("%d backups of "+defaultSysctlFile+", want %d..%d", n, least, most)
			}
			return nil
		}
	}
	var steps []resource.TestStep
	for _, timeout := range []int{3600, 3700} {
		steps = append(steps, resource.TestStep{Config: config("", timeout), Check: backups(0, 0)})
	}
	for _, timeout := range []int{3800, 3900, 4000, 4100, 4200} {
		steps = append(steps, resource.TestStep{Config: config("backup = true", timeout), Check: backups(1, 3)})
	}
	resource.Test(t, resource.TestCase{ProtoV6ProviderFactories: protoV6ProviderFactories, Steps: steps})
}
