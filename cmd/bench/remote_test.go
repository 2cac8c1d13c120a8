package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Lines as Terraform 1.5 writes them to TF_LOG_PATH (fields shortened).
const sampleLog = `2026-11-25T14:00:02.803Z [DEBUG] provider: starting plugin: path=/work/main/bin/terraform-provider-conntrack args=[/work/main/bin/terraform-provider-conntrack]
2026-11-25T14:00:03.123Z [DEBUG] provider.terraform-provider-conntrack: remote command: tf_data_source_type=conntrack_host tf_rpc=ReadDataSource @module=conntrack host=10.200.0.3 op="read host facts" timestamp=2026-11-25T14:00:03.123Z
2026-11-25T14:00:03.124Z [DEBUG] provider.terraform-provider-conntrack: remote command: tf_rpc=PlanResourceChange host=10.200.0.3 op="write /etc/sysctl.d/a \"b\".conf" tf_resource_type=conntrack_limits
2026-11-25T14:00:03.223Z [DEBUG] provider.terraform-provider-conntrack: read host facts: host=10.200.0.2 kernel=6.18.44 tf_rpc=ReadDataSource
2026-11-25T14:00:03.300Z [DEBUG] provider.terraform-provider-conntrack: remote command: op=simple host=10.200.0.2 tf_rpc=ReadResource
`

func TestRemoteCommands(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tf.log")
	if err := os.WriteFile(path, []byte(sampleLog), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := remoteCommands(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []remoteCommand{
		{"10.200.0.3", opRPC{"read host facts", "ReadDataSource"}},
		{"10.200.0.3", opRPC{`write /etc/sysctl.d/a "b".conf`, "PlanResourceChange"}},
		{"10.200.0.2", opRPC{"simple", "ReadResource"}},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestRemoteCommandsMissingField(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tf.log")
	line := "2026-11-25T14:00:03.123Z [DEBUG] provider.terraform-provider-conntrack: remote command: tf_rpc=ReadDataSource host=10.200.0.3\n"
	if err := os.WriteFile(path, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := remoteCommands(path); err == nil || !strings.Contains(err.Error(), "without host, op or tf_rpc") {
		t.Errorf("got %v, want an error about the missing op", err)
	}
}

func TestRemoteCommandsNoLog(t *testing.T) {
	got, err := remoteCommands(filepath.Join(t.TempDir(), "absent.log"))
	if err != nil || got != nil {
		t.Errorf("got %v, %v; want nothing for a run that started no provider", got, err)
	}
}
