package testhost

import (
	"embed"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/sshx"
)

// iptablesServices is a reduced iptables-services (RHEL's iptables and
// ip6tables services, which Debian does not package): one init script with
// the real start/stop semantics, and the systemd units that run it.
//
//go:embed iptables-services
var iptablesServices embed.FS

// IptablesServicesScript returns a shell script that installs the iptables
// and ip6tables services on a test host, with the given rules as
// /etc/sysconfig/iptables: as systemd units (/usr/libexec/iptables/*.init)
// when systemd is true, else as SysV scripts in /etc/init.d enabled with
// update-rc.d. Neither is started: callers start what they need. SysV
// hosts are namespace hosts, which share the machine's kernel, so their
// config files say IPTABLES_MODULES_UNLOAD="no": stopping the service there
// must never unload the machine's modules.
func IptablesServicesScript(systemd bool, rules4, rules6 string) string {
	file := func(name string) string {
		b, err := iptablesServices.ReadFile("iptables-services/" + name)
		if err != nil {
			panic(err) // embedded: cannot happen
		}
		return string(b)
	}
	var b strings.Builder
	write := func(path, content string, mode string) {
		fmt.Fprintf(&b, "mkdir -p %s\ncat > %s <<'CTT_EOF'\n%sCTT_EOF\nchmod %s %s\n",
			sshx.Quote(filepath.Dir(path)), sshx.Quote(path), content, mode, sshx.Quote(path))
	}
	b.WriteString("set -e\n")
	write("/etc/sysconfig/iptables", rules4, "600")
	write("/etc/sysconfig/ip6tables", rules6, "600")
	if systemd {
		write("/usr/libexec/iptables/iptables.init", file("iptables.init"), "755")
		b.WriteString("ln -sf iptables.init /usr/libexec/iptables/ip6tables.init\n")
		for _, unit := range []string{"iptables.service", "ip6tables.service"} {
			write("/etc/systemd/system/"+unit, file(unit), "644")
		}
		b.WriteString("systemctl daemon-reload\nsystemctl enable iptables.service ip6tables.service 2>&1\n")
		return b.String()
	}
	write("/etc/sysconfig/iptables-config", "IPTABLES_MODULES_UNLOAD=\"no\"\n", "600")
	write("/etc/sysconfig/ip6tables-config", "IP6TABLES_MODULES_UNLOAD=\"no\"\n", "600")
	write("/etc/init.d/iptables", file("iptables.init"), "755")
	b.WriteString("ln -sf iptables /etc/init.d/ip6tables\nupdate-rc.d iptables defaults >/dev/null\nupdate-rc.d ip6tables defaults >/dev/null\n")
	return b.String()
}
