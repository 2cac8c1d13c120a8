package conntrack

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runLocal runs a read script with the local sh, as the transport runs it
// on a host.
func runLocal(t *testing.T, script string, args []string) string {
	t.Helper()
	out, err := exec.Command("sh", append([]string{"-c", script, "sh"}, args...)...).Output()
	if err != nil {
		t.Fatalf("script: %v", err)
	}
	return string(out)
}

// A file that exists and cannot be read is an error naming it and the
// reason, never an empty file; a missing file is still simply absent.
// /proc/self/mem exists and fails every read (EIO), even for root.
func TestReadScriptsReportUnreadableFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.conf")
	present := filepath.Join(dir, "present.conf")
	if err := os.WriteFile(present, []byte("net.ipv4.ip_forward = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const bad = "/proc/self/mem"

	// conntrack_limits
	p := LimitsPaths{SysctlFile: bad, ModprobeFile: missing, ModulesLoadFile: present}
	script, args := LimitsScript(p)
	_, err := ParseLimits(runLocal(t, script, args), p)
	var ue *UnreadableError
	if !errors.As(err, &ue) || ue.Path != bad || !strings.Contains(err.Error(), "cannot read /proc/self/mem: Input/output error") {
		t.Fatalf("limits: %v", err)
	}
	p.SysctlFile = missing
	script, args = LimitsScript(p)
	if _, err := ParseLimits(runLocal(t, script, args), p); err != nil {
		t.Fatalf("a missing file must read as absent: %v", err)
	}
	// conntrack_module_blacklist
	script, args = ModulesScript(bad, []string{"nf_conntrack"})
	if _, err := ParseModules(runLocal(t, script, args), bad); !errors.As(err, &ue) || !strings.Contains(err.Error(), bad) {
		t.Fatalf("modules: %v", err)
	}
	// conntrack_notrack_rule's rules file
	script, args = FirewallScript(bad, 4)
	if _, err := ParseFirewall(runLocal(t, script, args), bad, 4); !errors.As(err, &ue) || !strings.Contains(err.Error(), bad) {
		t.Fatalf("firewall: %v", err)
	}
}

func TestSplitSectionsUnreadable(t *testing.T) {
	t.Parallel()
	out := "\n@@ctfacts:begin\n\n@@ctfacts:file_sysctl\nfile\n\n@@ctfacts:unreadable:/etc/sysctl.conf\ncat: /etc/sysctl.conf: Permission denied\nx\n\n@@ctfacts:end\n"
	_, err := splitSections(out)
	if err == nil || err.Error() != "cannot read /etc/sysctl.conf: Permission denied" {
		t.Fatalf("got %v", err)
	}
}
