package provider

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6/tf6server"
)

// planDiagnostic is one diagnostic of `terraform plan -json`.
type planDiagnostic struct {
	Severity, Summary, Detail string
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
	ctx, stop := context.WithCancel(context.Background())
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
	config = `terraform {
  required_providers {
    conntrack = { source = "conntrack-ops/conntrack" }
  }
}
` + config
	if err := os.WriteFile(filepath.Join(c.dir, "main.tf"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	c.run("init", "-input=false", "-backend=false")
	return c
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
	var diags []planDiagnostic
	sc := bufio.NewScanner(bytes.NewReader(c.run(append([]string{command, "-json", "-input=false", "-lock=false"}, args...)...)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var msg struct {
			Type       string
			Diagnostic planDiagnostic
		}
		if json.Unmarshal(sc.Bytes(), &msg) == nil && msg.Type == "diagnostic" {
			diags = append(diags, msg.Diagnostic)
		}
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
