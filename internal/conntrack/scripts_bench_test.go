package conntrack

// The read scripts run on every host for every plan: their cost here (fork
// count, mostly) is what the fleet pays. go test -bench Script ./internal/conntrack/

import (
	"os/exec"
	"testing"
)

func BenchmarkLimitsScript(b *testing.B) {
	script, args := LimitsScript(LimitsPaths{SysctlFile: "/etc/sysctl.conf", ModprobeFile: "/etc/modprobe.d/x.conf", ModulesLoadFile: "/etc/modules-load.d/conntrack.conf"})
	for i := 0; i < b.N; i++ {
		if err := exec.Command("sh", append([]string{"-c", script, "sh"}, args...)...).Run(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFactsScript(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if err := exec.Command("sh", "-c", FactsScript()).Run(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkModulesScript(b *testing.B) {
	script, args := ModulesScript("/etc/modprobe.d/blacklist.conf", ClassicBlacklist)
	for i := 0; i < b.N; i++ {
		if err := exec.Command("sh", append([]string{"-c", script, "sh"}, args...)...).Run(); err != nil {
			b.Fatal(err)
		}
	}
}
