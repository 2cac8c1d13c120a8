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

// planDiagnostics runs `terraform plan -json` on config (which must not
// declare required_providers) with the real Terraform CLI and the provider
// served in-process, and returns the diagnostics: what terraform-plugin-
// testing cannot assert, warnings included.
func planDiagnostics(t *testing.T, config string) []planDiagnostic {
	t.Helper()
	const addr = "registry.terraform.io/conntrack-ops/conntrack"
	ctx, stop := context.WithCancel(context.Background())
	reattach, closed := make(chan *plugin.ReattachConfig, 1), make(chan struct{})
	serveErr := make(chan error, 1)
	go func() {
		serveErr <- tf6server.Serve(addr, func() tfprotov6.ProviderServer { return providerserver.NewProtocol6(New("test")())() },
			tf6server.WithDebug(ctx, reattach, closed), tf6server.WithGoPluginLogger(hclog.NewNullLogger()), tf6server.WithLoggingSink(t))
	}()
	defer func() { stop(); <-closed }()
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

	dir := t.TempDir()
	config = `terraform {
  required_providers {
    conntrack = { source = "conntrack-ops/conntrack" }
  }
}
` + config
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) []byte {
		cmd := exec.Command(os.Getenv("TF_ACC_TERRAFORM_PATH"), args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "TF_REATTACH_PROVIDERS="+string(attach), "TF_CLI_CONFIG_FILE=/dev/null",
			"CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			if _, exit := err.(*exec.ExitError); !exit || stderr.Len() > 0 && !bytes.Contains(out, []byte(`"type":"diagnostic"`)) {
				t.Fatalf("terraform %v: %v\n%s%s", args, err, out, stderr.Bytes())
			}
		}
		return out
	}
	run("init", "-input=false", "-backend=false")
	var diags []planDiagnostic
	sc := bufio.NewScanner(bytes.NewReader(run("plan", "-json", "-input=false", "-lock=false")))
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
