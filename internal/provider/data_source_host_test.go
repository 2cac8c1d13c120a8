package provider

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"golang.org/x/crypto/ssh"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// hostDataSourceConfig reads h with the default provider settings.
func hostDataSourceConfig(t *testing.T, h *testhost.Host) string {
	return providerBlock(t, []*testhost.Host{h}, "") + fmt.Sprintf(`
data "conntrack_host" "h" {
  host = %q
}`, h.Addr)
}

func TestAccHostDataSource_matchesProc(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	mem := 1024 * hostInt(t, h, "awk '/^MemTotal:/ {print $2}' /proc/meminfo")
	ctMax := hostInt(t, h, "cat /proc/sys/net/netfilter/nf_conntrack_max")
	facts := expectedFacts(t, h)
	rec := mem / 16384 / (facts.archBits / 32)
	ctBuckets := hostInt(t, h, "cat /proc/sys/net/netfilter/nf_conntrack_buckets")
	// The rule the host's own kernel calls for: its release, and whether
	// its stat file has the chain-length counter.
	rule := conntrack.SizingFor(hostValue(t, h, "uname -r"),
		hostValue(t, h, "head -n 1 /proc/net/stat/nf_conntrack | grep -c -w chainlength || true") == "1")
	recBuckets, recMost := rec/8, rec/2
	if rule == conntrack.SizingModern {
		recBuckets, recMost = rec, 2*rec
	}
	// Columns the host's kernel may not have are null there.
	optional := func(column string) knownvalue.Check {
		if hostValue(t, h, "head -n 1 /proc/net/stat/nf_conntrack | grep -c -w "+column+" || true") == "1" {
			return knownvalue.Int64Exact(0)
		}
		return knownvalue.Null()
	}
	addr := "data.conntrack_host.h"
	check := func(attr string, v knownvalue.Check) statecheck.StateCheck {
		return statecheck.ExpectKnownValue(addr, tfjsonpath.New(attr), v)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: hostDataSourceConfig(t, h),
			ConfigStateChecks: []statecheck.StateCheck{
				check("kernel_release", knownvalue.StringExact(hostValue(t, h, "uname -r"))),
				check("arch_bits", knownvalue.Int64Exact(facts.archBits)),
				check("memory_bytes", knownvalue.Int64Exact(mem)),
				check("os_family", knownvalue.StringExact(facts.osFamily)),
				check("file_layout", knownvalue.StringExact(facts.fileLayout)),
				// A namespace host is not the initial network namespace.
				check("initial_netns", knownvalue.Bool(false)),
				check("conntrack_module", knownvalue.StringExact(facts.conntrackModule)),
				check("conntrack_naming", knownvalue.StringExact("nf_conntrack")),
				check("conntrack_count", knownvalue.Int64Exact(hostInt(t, h, "cat /proc/sys/net/netfilter/nf_conntrack_count"))),
				check("conntrack_max", knownvalue.Int64Exact(ctMax)),
				check("buckets", knownvalue.Int64Exact(ctBuckets)),
				check("load_factor", knownvalue.Float64Exact(math.Round(2*float64(ctMax)/float64(ctBuckets)*100)/100)),
				check("sizing_rule", knownvalue.StringExact(string(rule))),
				check("recommended_max", knownvalue.Int64Exact(rec)),
				check("recommended_buckets", knownvalue.Int64Exact(recBuckets)),
				check("recommended_buckets_max", knownvalue.Int64Exact(recMost)),
				check("stats", knownvalue.ObjectExact(map[string]knownvalue.Check{
					"found": knownvalue.Int64Exact(0), "invalid": knownvalue.Int64Exact(0), "insert_failed": knownvalue.Int64Exact(0),
					"drop": knownvalue.Int64Exact(0), "early_drop": knownvalue.Int64Exact(0), "search_restart": knownvalue.Int64Exact(0),
					"clash_resolve": optional("clashres"), "chaintoolong": optional("chainlength"),
				})),
			},
			Check: resource.TestCheckResourceAttr(addr, "fill_percent", "0"),
		}},
	})
}

// The facts of a busy table: the count and stats move with real traffic.
func TestAccHostDataSource_countsTrackedConnections(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	// A stateful rule makes the namespace track; a few local connections fill it.
	hostValue(t, h, "iptables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT; "+
		"for i in 1 2 3 4 5; do timeout 2 ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "+h.Addr+" true 2>/dev/null; done; true")
	if n := hostInt(t, h, "cat /proc/sys/net/netfilter/nf_conntrack_count"); n < 5 {
		t.Fatalf("the host tracks %d connections after five, want >= 5", n)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: hostDataSourceConfig(t, h),
			Check: func(s *terraform.State) error {
				attrs := s.RootModule().Resources["data.conntrack_host.h"].Primary.Attributes
				count, _ := strconv.Atoi(attrs["conntrack_count"])
				live := int(hostInt(t, h, "cat /proc/sys/net/netfilter/nf_conntrack_count"))
				// Connections come and go; the read must see the tracked ones.
				if count < 5 || live < 1 {
					return fmt.Errorf("conntrack_count = %d (host now: %d), want >= 5 after five tracked connections", count, live)
				}
				ctMax, _ := strconv.Atoi(attrs["conntrack_max"])
				want := math.Round(float64(count)*10000/float64(ctMax)) / 100
				if f, _ := strconv.ParseFloat(attrs["fill_percent"], 64); f != want {
					return fmt.Errorf("fill_percent = %v, want %v (%d of %d)", attrs["fill_percent"], want, count, ctMax)
				}
				return nil
			},
		}},
	})
}

func TestAccHostDataSource_withoutConntrack(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{NoConntrack: true})
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: hostDataSourceConfig(t, h),
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue("data.conntrack_host.h", tfjsonpath.New("conntrack_max"), knownvalue.Null()),
				statecheck.ExpectKnownValue("data.conntrack_host.h", tfjsonpath.New("conntrack_naming"), knownvalue.Null()),
				statecheck.ExpectKnownValue("data.conntrack_host.h", tfjsonpath.New("stats"), knownvalue.NotNull()),
				statecheck.ExpectKnownValue("data.conntrack_host.h", tfjsonpath.New("recommended_max"), knownvalue.NotNull()),
			},
		}},
	})
}

// Ten data sources on one host share one SSH login.
func TestAccHostDataSource_oneConnectionPerHost(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	other := testhost.New(t, testhost.Options{})
	hosts := []*testhost.Host{h, other}
	var before int
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			PreConfig: func() { before, _ = h.Logins() },
			Config: providerBlock(t, hosts, "") + fmt.Sprintf(`
data "conntrack_host" "many" {
  count = 10
  host  = %q
}
data "conntrack_host" "other" {
  host = %q
}`, h.Addr, other.Addr),
			Check: func(s *terraform.State) error {
				for i := 0; i < 10; i++ {
					if s.RootModule().Resources[fmt.Sprintf("data.conntrack_host.many.%d", i)].Primary.Attributes["kernel_release"] == "" {
						return fmt.Errorf("data source %d was not read", i)
					}
				}
				after, err := h.Logins()
				if err != nil {
					return err
				}
				// The step plans once (reading all data sources) and applies
				// that plan (reading none): one Terraform walk, one login.
				if after-before != 1 {
					return fmt.Errorf("10 data sources on %s made %d SSH logins, want 1", h.Addr, after-before)
				}
				if n, _ := other.Logins(); n != 1 {
					return fmt.Errorf("the other host saw %d logins, want 1", n)
				}
				return nil
			},
		}},
	})
}

func TestAccHostDataSource_unknownHostKey(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	other := testhost.New(t, testhost.Options{})
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			// known_hosts lists only the other host.
			Config: providerBlock(t, []*testhost.Host{other}, "") +
				fmt.Sprintf(`data "conntrack_host" "h" { host = %q }`, h.Addr),
			ExpectError: errorLike("Cannot connect to "+h.Addr, "host key not trusted", ssh.FingerprintSHA256(h.HostKey)),
		}},
	})
	if n, _ := h.Logins(); n != 0 {
		t.Fatalf("a host with an unknown key was logged in to %d times", n)
	}
}

func TestAccHostDataSource_wrongKeyIsAuthError(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: fmt.Sprintf(`
provider "conntrack" {
  private_key_file = %q
  known_hosts_file = %q
}
data "conntrack_host" "h" { host = %q }`, testhost.ForeignKeyFile(t), testhost.KnownHostsFile(t, h), h.Addr),
			ExpectError: errorLike("authentication failed"),
		}},
	})
}

func TestAccHostDataSource_unreachableWithinConnectTimeout(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	hostValue(t, h, "iptables -I INPUT -p tcp --dport 22 -j DROP")
	var start time.Time
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			PreConfig: func() { start = time.Now() },
			Config: fmt.Sprintf(`
provider "conntrack" {
  private_key_file = %q
  known_hosts_file = %q
  connect_timeout  = "2s"
}
data "conntrack_host" "h" { host = %q }`, h.ClientKeyFile(), testhost.KnownHostsFile(t, h), h.Addr),
			ExpectError: errorLike("host unreachable: no SSH connection within connect_timeout 2s"),
		}},
	})
	// Terraform's own start-up takes a few seconds; a dial that ignored the
	// timeout would take the kernel's minutes.
	if took := time.Since(start); took > 20*time.Second {
		t.Fatalf("unreachable host took %s to fail", took)
	}
}

func TestAccHostDataSource_bastion(t *testing.T) {
	t.Parallel()
	bastion := testhost.New(t, testhost.Options{})
	target := testhost.New(t, testhost.Options{})
	// Only the bastion may reach the target's sshd.
	hostValue(t, target, "iptables -A INPUT -p tcp --dport 22 ! -s "+bastion.Addr+" -j REJECT --reject-with tcp-reset")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: providerBlock(t, []*testhost.Host{target}, fmt.Sprintf(`
  bastion {
    host             = %q
    private_key_file = %q
    known_hosts_file = %q
  }`, bastion.Addr, bastion.ClientKeyFile(), testhost.KnownHostsFile(t, bastion))) + fmt.Sprintf(`
data "conntrack_host" "h" { host = %q }`, target.Addr),
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue("data.conntrack_host.h", tfjsonpath.New("kernel_release"), knownvalue.StringExact(hostValue(t, target, "uname -r"))),
			},
			Check: func(*terraform.State) error {
				if n, _ := target.Logins(); n != 1 {
					return fmt.Errorf("target logins = %d, want 1 (through the bastion)", n)
				}
				if n, _ := bastion.Logins(); n != 1 {
					return fmt.Errorf("bastion logins = %d, want 1", n)
				}
				return nil
			},
		}},
	})
}

func TestAccHostDataSource_sudo(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{Users: []testhost.User{{Name: "ops", Sudo: true}, {Name: "plain"}}})
	config := func(user string) string {
		return providerBlock(t, []*testhost.Host{h}, "sudo = true") + fmt.Sprintf(`
data "conntrack_host" "h" {
  host = %q
  user = %q
}`, h.Addr, user)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: config("ops"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("data.conntrack_host.h", tfjsonpath.New("conntrack_module"), knownvalue.StringExact(string(conntrack.ModuleBuiltin))),
				},
			},
			{
				Config:      config("plain"),
				ExpectError: errorLike(`User "plain" cannot run sudo without a password on ` + h.Addr),
			},
		},
	})
}

// Bad provider settings fail at plan time, before any host is contacted,
// pointing at the attribute and never echoing a secret.
func TestProviderConfigValidation(t *testing.T) {
	t.Parallel()
	ds := `data "conntrack_host" "h" { host = "127.0.0.9" }`
	cases := map[string]struct {
		config string
		want   string
	}{
		"malformed key":       {`private_key = "-----BEGIN OPENSSH PRIVATE KEY-----\nsecretstuff\n-----END OPENSSH PRIVATE KEY-----\n"`, "not a valid PEM or OpenSSH private key"},
		"missing known_hosts": {`password = "pw"` + "\n" + `known_hosts_file = "/nonexistent/known_hosts"`, "/nonexistent/known_hosts"},
		"bad duration":        {`password = "pw"` + "\n" + `connect_timeout = "soon"`, "Invalid duration"},
		"zero port":           {`password = "pw"` + "\n" + `port = 0`, "port"},
		"pin and insecure":    {`password = "pw"` + "\n" + `host_key = "SHA256:x"` + "\n" + `insecure_ignore_host_key = true`, "cannot be specified when"},
		"bad pin":             {`password = "pw"` + "\n" + `host_key = "not a key"`, "not a public key line"},
		"missing key file":    {`private_key_file = "/nonexistent/id_ed25519"`, "Cannot read private key file"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			resource.UnitTest(t, resource.TestCase{
				ProtoV6ProviderFactories: protoV6ProviderFactories,
				Steps: []resource.TestStep{{
					Config:      "provider \"conntrack\" {\n" + tc.config + "\n}\n" + ds,
					ExpectError: errorLike(tc.want),
				}},
			})
		})
	}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config:      `provider "conntrack" { insecure_ignore_host_key = true }` + "\n" + `data "conntrack_host" "h" { host = "a;reboot" }`,
			ExpectError: errorLike("must be a host name"),
		}},
	})
}

// The documented health recipe (examples/checks/main.tf) on a namespace
// host: it applies and plans quietly on a healthy table, with the
// counters this host's kernel has (chaintoolong included, or null), and
// its fill warning fires when the threshold is below the fill. The kernel
// tier fills a real table (TestAccHostDataSource_kernelCheckRecipe).
func TestAccHostDataSource_checkRecipe(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{})
	recipe, err := os.ReadFile("../../examples/checks/main.tf")
	if err != nil {
		t.Fatal(err)
	}
	hosts, _ := json.Marshal(map[string]any{"h": map[string]any{"host": h.Addr}})
	c := newTerraformCLI(t, providerBlock(t, []*testhost.Host{h}, "")+string(recipe))
	vars := []string{"-var", "hosts=" + string(hosts)}
	const failed = "Check block assertion failed"
	for _, step := range [][]string{append([]string{"apply", "-auto-approve"}, vars...), append([]string{"plan"}, vars...)} {
		for _, d := range c.diagnostics(step[0], step[1:]...) {
			if d.Severity == "error" || d.Summary == failed {
				t.Fatalf("%s on a healthy table: %s: %s: %s", step[0], d.Severity, d.Summary, d.Detail)
			}
		}
	}
	var warnings []string
	for _, d := range c.diagnostics("plan", append(vars, "-var", "fill_warn_percent=0")...) {
		if d.Severity == "error" {
			t.Fatalf("plan: %s: %s", d.Summary, d.Detail)
		}
		if d.Summary == failed {
			warnings = append(warnings, d.Detail)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "Conntrack tables at least 0% full: h ") {
		t.Fatalf("want the fill warning only, got %q", warnings)
	}
}

// A read-only monitoring login (not root, no sudo) reads the host: the
// bucket count comes from the buckets sysctl, which anyone may read, not
// from the root-only hashsize parameter (0600 on current kernels).
func TestAccHostDataSource_nonRootWithoutSudo(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.Options{Users: []testhost.User{{Name: "monitor"}}})
	if mode := hostValue(t, h, "stat -c %a /sys/module/nf_conntrack/parameters/hashsize 2>/dev/null || echo none"); mode != "600" {
		t.Logf("hashsize is %s here, not root-only: the read would work without the fix too", mode)
	}
	check := func(attr string, v knownvalue.Check) statecheck.StateCheck {
		return statecheck.ExpectKnownValue("data.conntrack_host.h", tfjsonpath.New(attr), v)
	}
	ctMax := hostInt(t, h, "cat /proc/sys/net/netfilter/nf_conntrack_max")
	ctBuckets := hostInt(t, h, "cat /proc/sys/net/netfilter/nf_conntrack_buckets")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: providerBlock(t, []*testhost.Host{h}, "") + fmt.Sprintf(`
data "conntrack_host" "h" {
  host = %q
  user = "monitor"
}`, h.Addr),
			ConfigStateChecks: []statecheck.StateCheck{
				check("conntrack_max", knownvalue.Int64Exact(ctMax)),
				check("buckets", knownvalue.Int64Exact(ctBuckets)),
				check("load_factor", knownvalue.Float64Exact(math.Round(2*float64(ctMax)/float64(ctBuckets)*100)/100)),
				check("stats", knownvalue.NotNull()),
			},
		}},
	})
}
