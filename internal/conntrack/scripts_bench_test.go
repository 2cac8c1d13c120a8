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

// benchLimits are the default files of conntrack_limits.
var benchLimits = LimitsPaths{SysctlFile: "/etc/sysctl.conf", ModprobeFile: "/etc/modprobe.d/iptables.conf", ModulesLoadFile: "/etc/modules-load.d/conntrack.conf"}

// BenchmarkSeparateReads is what one host cost per plan before the
// snapshot: a command per object (the benchmark's six objects).
func BenchmarkSeparateReads(b *testing.B) {
	ls, la := LimitsScript(benchLimits)
	ms, ma := ModulesScript("/etc/modprobe.d/blacklist.conf", ClassicBlacklist)
	fs, fa := FirewallScript("", 4)
	ss, sa := ServicesScript([]string{"ip6tables", "iptables"})
	scripts := [][]string{{FactsScript()}, append([]string{ls}, la...), append([]string{ms}, ma...), append([]string{fs}, fa...),
		append([]string{ss}, sa...), {`cat "$1"`, "/etc/sysconfig/iptables-config"}}
	for i := 0; i < b.N; i++ {
		for _, s := range scripts {
			// cat of a missing file fails; the cost is the same.
			_ = exec.Command("sh", append([]string{"-c", s[0], "sh"}, s[1:]...)...).Run()
		}
	}
}

// BenchmarkSnapshotScript is the same objects' combined read.
func BenchmarkSnapshotScript(b *testing.B) {
	script, args := SnapshotScript(SnapshotRequest{
		Limits:   []LimitsPaths{benchLimits},
		Modules:  []ModulesRead{{File: "/etc/modprobe.d/blacklist.conf", Modules: ClassicBlacklist}},
		Firewall: []FirewallRead{{IPVersion: 4}},
		Files:    []string{"/etc/sysconfig/iptables-config"},
	})
	for i := 0; i < b.N; i++ {
		if err := exec.Command("sh", append([]string{"-c", script, "sh"}, args...)...).Run(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshotScriptDefaults is the combined read of every object's
// defaults (both IP versions and both iptables-config files).
func BenchmarkSnapshotScriptDefaults(b *testing.B) {
	script, args := SnapshotScript(SnapshotRequest{
		Limits:   []LimitsPaths{benchLimits},
		Modules:  []ModulesRead{{File: "/etc/modprobe.d/blacklist.conf", Modules: ClassicBlacklist}},
		Firewall: []FirewallRead{{IPVersion: 4}, {IPVersion: 6}},
		Files:    []string{"/etc/sysconfig/iptables-config", "/etc/sysconfig/ip6tables-config"},
	})
	for i := 0; i < b.N; i++ {
		if err := exec.Command("sh", append([]string{"-c", script, "sh"}, args...)...).Run(); err != nil {
			b.Fatal(err)
		}
	}
}
