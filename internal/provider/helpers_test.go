package provider

// The one home of the provider tests' helpers: the test provider and its
// HCL builders, checks of the host's files and /proc, the expected facts
// of the host under test, and the CLI-diagnostics harness (planDiagnostics)
// for warnings, which terraform-plugin-testing cannot assert.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6/tf6server"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// planDiagnostic is one diagnostic of `terraform plan -json`.
type planDiagnostic struct {
	Severity, Summary, Detail string
	// Snippet and Range say which configuration line the diagnostic points
	// at (nil when it points at none).
	Snippet *struct{ Code string }
	Range   *struct {
		Filename string
		Start    struct{ Line int }
	}
}

// terraformCLI runs the real Terraform CLI in a working directory of its own
// against the provider served in-process: for what terraform-plugin-testing
// cannot assert, warnings included.
type terraformCLI struct {
	t   *testing.T
	dir string
	env []string
}

// newTerraformCLI serves the provider for the test, writes config (which must
// not declare required_providers) and runs terraform init.
func newTerraformCLI(t *testing.T, config string) *terraformCLI {
	t.Helper()
	// OpenTofu resolves the short source to its own registry's host, which
	// make test-matrix names in TF_ACC_PROVIDER_HOST for terraform-plugin-testing too.
	addr := "registry.terraform.io/conntrack-ops/conntrack"
	if h := os.Getenv("TF_ACC_PROVIDER_HOST"); h != "" {
		addr = h + "/conntrack-ops/conntrack"
	}
	// The provider serves for the test body (no cleanup runs terraform);
	// the cleanup waits until it has stopped.
	ctx, stop := context.WithCancel(t.Context())
	reattach, closed := make(chan *plugin.ReattachConfig, 1), make(chan struct{})
	serveErr := make(chan error, 1)
	go func() {
		serveErr <- tf6server.Serve(addr, func() tfprotov6.ProviderServer { return providerserver.NewProtocol6(New("test")())() },
			tf6server.WithDebug(ctx, reattach, closed), tf6server.WithGoPluginLogger(hclog.NewNullLogger()), tf6server.WithLoggingSink(t))
	}()
	t.Cleanup(func() { stop(); <-closed })
	var rc *plugin.ReattachConfig
	select {
	case rc = <-reattach:
	case err := <-serveErr:
		t.Fatalf("serve the provider: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the provider did not start serving")
	}
	attach, _ := json.Marshal(map[string]any{addr: map[string]any{
		"Protocol": rc.Protocol, "ProtocolVersion": rc.ProtocolVersion, "Pid": rc.Pid, "Test": true,
		"Addr": map[string]string{"Network": rc.Addr.Network(), "String": rc.Addr.String()},
	}})
	c := &terraformCLI{t: t, dir: t.TempDir(), env: append(os.Environ(), "TF_REATTACH_PROVIDERS="+string(attach),
		"TF_CLI_CONFIG_FILE=/dev/null", "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1")}
	c.configure(config)
	c.run("init", "-input=false", "-backend=false")
	return c
}

// configure replaces the working directory's configuration with config
// (which must not declare required_providers).
func (c *terraformCLI) configure(config string) {
	config = `terraform {
  required_providers {
    conntrack = { source = "conntrack-ops/conntrack" }
  }
}
` + config
	if err := os.WriteFile(filepath.Join(c.dir, "main.tf"), []byte(config), 0o600); err != nil {
		c.t.Fatal(err)
	}
}

// run runs terraform with args and returns stdout; an exit status other
// than 0 fails the test unless stdout has JSON diagnostics to look at.
func (c *terraformCLI) run(args ...string) []byte {
	c.t.Helper()
	cmd := exec.Command(os.Getenv("TF_ACC_TERRAFORM_PATH"), args...)
	cmd.Dir, cmd.Env = c.dir, c.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil && !bytes.Contains(out, []byte(`"type":"diagnostic"`)) {
		c.t.Fatalf("terraform %v: %v\n%s%s", args, err, out, stderr.Bytes())
	}
	return out
}

// diagnostics runs `terraform COMMAND -json` (plan or apply) and returns
// its diagnostics.
func (c *terraformCLI) diagnostics(command string, args ...string) []planDiagnostic {
	c.t.Helper()
	return parseDiagnostics(c.t, c.run(append([]string{command, "-json", "-input=false", "-lock=false"}, args...)...))
}

// parseDiagnostics returns the diagnostics of Terraform's -json output.
func parseDiagnostics(t *testing.T, out []byte) []planDiagnostic {
	t.Helper()
	var diags []planDiagnostic
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var msg struct {
			Type       string
			Diagnostic planDiagnostic
		}
		if json.Unmarshal(sc.Bytes(), &msg) == nil && msg.Type == "diagnostic" {
			diags = append(diags, msg.Diagnostic)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return diags
}

// planDiagnostics plans config with nothing in state and returns the
// diagnostics.
func planDiagnostics(t *testing.T, config string) []planDiagnostic {
	t.Helper()
	return newTerraformCLI(t, config).diagnostics("plan")
}

// driftDiagnostics applies config, runs drift on the host, and returns the
// diagnostics of the next plan: the warnings a refresh raises.
func driftDiagnostics(t *testing.T, config string, drift func()) []planDiagnostic {
	t.Helper()
	c := newTerraformCLI(t, config)
	for _, d := range c.diagnostics("apply", "-auto-approve") {
		if d.Severity == "error" {
			t.Fatalf("apply: %s: %s", d.Summary, d.Detail)
		}
	}
	drift()
	return c.diagnostics("plan")
}

// warningOf returns the plan's warning with summary, if there is one.
func warningOf(diags []planDiagnostic, summary string) (planDiagnostic, bool) {
	for _, d := range diags {
		if d.Severity == "warning" && d.Summary == summary {
			return d, true
		}
	}
	return planDiagnostic{}, false
}

// expectWarning fails unless the plan warns with summary and a detail
// matching the phrases.
func expectWarning(t *testing.T, diags []planDiagnostic, summary string, phrases ...string) {
	t.Helper()
	d, ok := warningOf(diags, summary)
	if !ok {
		t.Fatalf("no warning %q; diagnostics: %+v", summary, diags)
	}
	if re := errorLike(phrases...); !re.MatchString(d.Detail) {
		t.Fatalf("warning %q: detail %q does not match %s", summary, d.Detail, re)
	}
}

// protoV6ProviderFactories serve the provider in-process to the real
// Terraform CLI (TF_ACC_TERRAFORM_PATH) that terraform-plugin-testing drives.
var protoV6ProviderFactories = map[string]func() (tfprotov6.ProviderServer, error){
	"conntrack": NewServer("test"),
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
		out, err := h.Exec(t.Context(), script)
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

// hostValue reads one value on the test host itself, the ground truth the
// data source must match.
func hostValue(t *testing.T, h *testhost.Host, script string) string {
	t.Helper()
	out, err := h.Exec(t.Context(), script)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

func hostInt(t *testing.T, h *testhost.Host, script string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(hostValue(t, h, script), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func writeHostFile(t *testing.T, h *testhost.Host, path, content string) {
	t.Helper()
	f := t.TempDir() + "/content"
	if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	hostValue(t, h, fmt.Sprintf("cat %s > %s", f, path))
}

func hostFile(t *testing.T, h *testhost.Host, path string) string {
	t.Helper()
	out, err := h.Exec(t.Context(), "cat "+path)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func expectFile(h *testhost.Host, path, want string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		got, err := h.Exec(context.Background(), "cat "+path)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("%s on the host:\n%q\nwant:\n%q", path, got, want)
		}
		return nil
	}
}

func expectProc(h *testhost.Host, key string, want int64) resource.TestCheckFunc {
	return func(*terraform.State) error {
		out, err := h.Exec(context.Background(), "cat /proc/sys/"+strings.ReplaceAll(key, ".", "/"))
		if err != nil {
			return err
		}
		if got, _ := strconv.ParseInt(strings.TrimSpace(out), 10, 64); got != want {
			return fmt.Errorf("running %s = %d, want %d", key, got, want)
		}
		return nil
	}
}

// hostFacts are the facts the data source must report, read from the host
// under test (its /etc/os-release, /proc and /sys) by the rules the docs
// state, never assumed from the machine the tests usually run on.
type hostFacts struct {
	osFamily, fileLayout, conntrackModule string
	archBits                              int64
}

func expectedFacts(t *testing.T, h *testhost.Host) hostFacts {
	t.Helper()
	var f hostFacts
	f.archBits = hostInt(t, h, "getconf LONG_BIT")
	osr := strings.Fields(hostValue(t, h, `. /etc/os-release 2>/dev/null || . /usr/lib/os-release; echo "$ID" $ID_LIKE`))
	family := map[string]string{"rhel": "rhel", "centos": "rhel", "fedora": "rhel", "rocky": "rhel", "almalinux": "rhel", "ol": "rhel",
		"amzn": "rhel", "debian": "debian", "ubuntu": "debian"}
	f.osFamily = "other"
	for i, id := range osr {
		if fam := family[id]; fam != "" && (i == 0 || id == "rhel" || id == "fedora" || id == "centos" || fam == "debian") {
			f.osFamily = fam
			break
		}
	}
	f.fileLayout = f.osFamily
	if f.fileLayout == "other" {
		f.fileLayout = hostValue(t, h, `if [ -e /etc/sysconfig ]; then echo rhel; elif [ -e /etc/debian_version ] || [ -e /etc/iptables ]; then echo debian; else echo rhel; fi`)
	}
	f.conntrackModule = hostValue(t, h, `r=$(uname -r)
if grep -qE '^(nf|ip)_conntrack ' /proc/modules 2>/dev/null || [ -e /sys/module/nf_conntrack/initstate ] || [ -e /sys/module/ip_conntrack/initstate ]; then echo loaded
elif grep -qE '(^|/)(nf|ip)_conntrack[.]ko' /lib/modules/$r/modules.builtin 2>/dev/null || [ -d /sys/module/nf_conntrack ] || [ -d /sys/module/ip_conntrack ]; then echo builtin
elif grep -qE '(^|/)(nf|ip)_conntrack[.]ko' /lib/modules/$r/modules.dep 2>/dev/null; then echo available
else echo absent; fi`)
	return f
}

// builtinModules are the modules of the list that are built into the host's
// kernel: listed in modules.builtin, or a /sys/module entry without
// initstate (which only loadable modules have).
func builtinModules(t *testing.T, h *testhost.Host, modules []string) []string {
	t.Helper()
	builtin := strings.Fields(hostValue(t, h, `r=$(uname -r); for m in `+strings.Join(modules, " ")+`; do
if grep -q "/$m[.]ko" /lib/modules/$r/modules.builtin 2>/dev/null || { [ -d /sys/module/$m ] && [ ! -e /sys/module/$m/initstate ]; }; then echo $m; fi
done; true`))
	slices.Sort(builtin)
	return builtin
}

// loadableModules are the modules of the list that the host's kernel could
// load or unload: a namespace host runs the machine's own kernel, so a
// test there must not unload any of them.
func loadableModules(t *testing.T, h *testhost.Host, modules []string) []string {
	t.Helper()
	return strings.Fields(hostValue(t, h, `r=$(uname -r); for m in `+strings.Join(modules, " ")+`; do
if grep -q "/$m[.]ko" /lib/modules/$r/modules.dep 2>/dev/null || [ -e /sys/module/$m/initstate ]; then echo $m; fi
done; true`))
}
