package conntrack

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Firewall services a conntrack_firewall_service manages (remedy 1).
var FirewallServices = []string{"iptables", "ip6tables", "firewalld", "nftables"}

// Init systems, and the SysV tools that enable a service at boot.
const (
	InitSystemd = "systemd"
	InitSysV    = "sysv"
)

// InitSystems lists the init systems in display order.
var InitSystems = []string{InitSystemd, InitSysV}

// ServiceState is what the init system says about one service.
type ServiceState struct {
	Installed, Enabled, Running bool
}

// ServiceHost is what one firewall service read gathers.
type ServiceHost struct {
	// Systemd: PID 1 is systemd (/run/systemd/system exists).
	Systemd bool
	// SysVTool enables SysV services at boot: "chkconfig" (RHEL),
	// "update-rc.d" (Debian) or "" when neither exists.
	SysVTool string
	// Units and SysV hold each service's state as the two init systems
	// see it; Units is empty unless systemd runs.
	Units, SysV map[string]ServiceState
	// ManagedRules counts the rules of conntrack_notrack_rule in each
	// IP version's rules files (both layouts), by IP version (4, 6).
	ManagedRules map[int]int
	// Guard are the rolled-back service starts recorded since the last
	// read (each is reported once).
	Guard []GuardOutcome
}

// States returns the services' states as the given init system sees them.
func (h ServiceHost) States(init string) map[string]ServiceState {
	if init == InitSystemd {
		return h.Units
	}
	return h.SysV
}

// servicesScript reads, for each service in "$@", what systemd and the SysV
// scripts say, without running anything that touches the packet filter:
// `service iptables status` and `systemctl status` both list the rules,
// which loads the netfilter modules on a host whose firewall is stopped.
// `systemctl show` only asks PID 1. On SysV, "running" is the init
// script's lock file (/var/lock/subsys/NAME, the RHEL convention the
// iptables scripts keep), "enabled" a start link in runlevels 2-5.
const servicesScript = `exec 2>/dev/null
` + scriptMemos + sectionFn + `s begin
` + servicesProbes + `s end
`

// servicesProbes are servicesScript's sections (the snapshot has them as a
// part): "$@" the services.
const servicesProbes = `s systemd; if [ -d /run/systemd/system ]; then echo yes; fi
s sysv_tool; for t in chkconfig update-rc.d; do if command -v "$t" >/dev/null; then echo "$t"; break; fi; done
if [ -d /run/systemd/system ]; then
	s units; systemctl show --property=Id,LoadState,ActiveState,UnitFileState "$@"
fi
s sysv
for svc in "$@"; do
	i=no; e=no; r=no
	if [ -x "/etc/init.d/$svc" ] || [ -x "/etc/rc.d/init.d/$svc" ]; then i=yes; fi
	for l in /etc/rc[2345].d/S[0-9][0-9]"$svc" /etc/rc.d/rc[2345].d/S[0-9][0-9]"$svc"; do
		if [ -e "$l" ]; then e=yes; fi
	done
	if [ -e "/var/lock/subsys/$svc" ]; then r=yes; fi
	echo "$svc $i $e $r"
done
s rules4; grep -c -H -F "conntrack-tf:" /etc/sysconfig/iptables /etc/iptables/rules.v4
s rules6; grep -c -H -F "conntrack-tf:" /etc/sysconfig/ip6tables /etc/iptables/rules.v6
gk=services
` + guardOutcomes

// ServicesScript returns the read script and its arguments for services.
func ServicesScript(services []string) (string, []string) { return servicesScript, services }

// ParseServices parses the output of ServicesScript.
func ParseServices(out string) (ServiceHost, error) {
	sec, err := splitSections(out)
	if err != nil {
		return ServiceHost{}, err
	}
	h := ServiceHost{
		Systemd: sec.line("systemd") == "yes", SysVTool: sec.line("sysv_tool"),
		Units: map[string]ServiceState{}, SysV: map[string]ServiceState{}, ManagedRules: map[int]int{},
		Guard: parseGuardOutcomes(sec),
	}
	// systemctl show prints one block of KEY=VALUE lines per unit.
	for _, block := range strings.Split(strings.ReplaceAll(sec["units"], "\r", ""), "\n\n") {
		props := map[string]string{}
		for _, l := range strings.Split(block, "\n") {
			if k, v, ok := strings.Cut(strings.TrimSpace(l), "="); ok {
				props[k] = v
			}
		}
		name, ok := strings.CutSuffix(props["Id"], ".service")
		if !ok {
			continue
		}
		h.Units[name] = ServiceState{
			Installed: props["LoadState"] == "loaded",
			Enabled:   slices.Contains([]string{"enabled", "enabled-runtime", "alias"}, props["UnitFileState"]),
			Running:   slices.Contains([]string{"active", "activating", "reloading"}, props["ActiveState"]),
		}
	}
	for _, l := range sec.lines("sysv") {
		f := strings.Fields(l)
		if len(f) != 4 {
			return ServiceHost{}, fmt.Errorf("firewall services: unexpected line %q", l)
		}
		h.SysV[f[0]] = ServiceState{Installed: f[1] == "yes", Enabled: f[2] == "yes", Running: f[3] == "yes"}
	}
	for v, name := range map[int]string{4: "rules4", 6: "rules6"} {
		for _, l := range sec.lines(name) {
			if i := strings.LastIndexByte(l, ':'); i >= 0 {
				if n, err := strconv.Atoi(l[i+1:]); err == nil && n > 0 {
					h.ManagedRules[v] += n
				}
			}
		}
	}
	return h, nil
}

// FlushedRules is how many managed notrack rules stopping service would
// flush from the running kernel: iptables and ip6tables flush their own IP
// version; nftables and firewalld flush the whole nftables ruleset, which
// holds the rules of iptables-nft.
func (h ServiceHost) FlushedRules(service string) int {
	switch service {
	case "iptables":
		return h.ManagedRules[4]
	case "ip6tables":
		return h.ManagedRules[6]
	}
	return h.ManagedRules[4] + h.ManagedRules[6]
}

// ServiceAction is one change to a service: enable, disable, start or stop.
type ServiceAction struct{ Service, Action string }

// serviceApplyScript runs $1's commands for each "service action" argument
// after it, reporting each failure with its output and going on, and
// "@@done" when none failed.
const serviceApplyScript = `set -f
init=$1; shift; failed=
for op in "$@"; do
	svc=${op%% *}; act=${op#* }
	case "$init/$act" in
	systemd/*) out=$(systemctl "$act" "$svc.service" 2>&1) ;;
	chkconfig/enable) out=$(chkconfig "$svc" on 2>&1) ;;
	chkconfig/disable) out=$(chkconfig "$svc" off 2>&1) ;;
	update-rc.d/enable) out=$( (ls /etc/rc[0-6S].d/[SK][0-9][0-9]"$svc" >/dev/null 2>&1 || update-rc.d "$svc" defaults) && update-rc.d "$svc" enable 2>&1) ;;
	update-rc.d/disable) out=$(update-rc.d "$svc" disable 2>&1) ;;
	*/start|*/stop) if command -v service >/dev/null; then out=$(service "$svc" "$act" 2>&1); else out=$("/etc/init.d/$svc" "$act" 2>&1); fi ;;
	*) out="unknown action"; false ;;
	esac || { failed=1; printf "@@fail\t%s %s\t%s\n" "$svc" "$act" "$(echo $out)"; }
done
[ -n "$failed" ] || printf "@@done\n"
`

// ServiceApplyScript returns the script and arguments that carry out
// actions in order, with tool the init system or SysV tool
// ("systemd", "chkconfig" or "update-rc.d").
func ServiceApplyScript(tool string, actions []ServiceAction) (string, []string) {
	args := []string{tool}
	for _, a := range actions {
		args = append(args, a.Service+" "+a.Action)
	}
	return serviceApplyScript, args
}

// ServiceActions are the changes that bring each service to the declared
// enabled and running (nil: unmanaged), stops before disables, enables
// before starts. A service that is not installed has nothing to stop.
func ServiceActions(services []string, states map[string]ServiceState, enabled, running *bool) []ServiceAction {
	var actions []ServiceAction
	for _, svc := range services {
		st := states[svc]
		add := func(declared *bool, now bool, on, off string) {
			switch {
			case declared == nil || *declared == now:
			case *declared:
				actions = append(actions, ServiceAction{Service: svc, Action: on})
			case st.Installed:
				actions = append(actions, ServiceAction{Service: svc, Action: off})
			}
		}
		if running != nil && *running {
			add(enabled, st.Enabled, "enable", "disable")
			add(running, st.Running, "start", "stop")
		} else {
			add(running, st.Running, "start", "stop")
			add(enabled, st.Enabled, "enable", "disable")
		}
	}
	return actions
}
