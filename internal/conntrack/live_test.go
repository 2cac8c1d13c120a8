package conntrack

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The live script runs here against ordinary files standing in for /proc.
func TestLiveScript(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok")
	readOnly := filepath.Join(dir, "ro")
	if err := os.WriteFile(ok, []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Writing to a directory fails like a read-only sysctl.
	if err := os.Mkdir(readOnly, 0o755); err != nil {
		t.Fatal(err)
	}
	writes := []LiveWrite{{ok, "524288"}, {readOnly, "7"}, {filepath.Join(dir, "missing-dir", "x"), "3"}}
	script, args := LiveScript(writes)
	out, err := exec.Command("sh", append([]string{"-c", script, "sh"}, args...)...).Output()
	if err != nil {
		t.Fatal(err)
	}
	r := ParseLive(string(out), writes)
	if !r[0].OK() || r[0].Now != "524288" {
		t.Fatalf("good write: %+v", r[0])
	}
	if r[1].OK() || r[1].Err == "" {
		t.Fatalf("failed write must carry the shell's reason: %+v", r[1])
	}
	if r[2].OK() || r[2].Err == "" || r[2].Now != "" {
		t.Fatalf("missing file: %+v", r[2])
	}
}
