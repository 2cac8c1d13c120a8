package conntrack

import (
	"strconv"
	"strings"
)

// RulesFile is where a host's layout persists iptables rules.
func RulesFile(layout string, ipVersion int) string {
	switch {
	case layout == "debian" && ipVersion == 6:
		return "/etc/iptables/rules.v6"
	case layout == "debian":
		return "/etc/iptables/rules.v4"
	case ipVersion == 6:
		return "/etc/sysconfig/ip6tables"
	}
	return "/etc/sysconfig/iptables"
}

// IptablesCommand is the iptables program for an IP version.
func IptablesCommand(ipVersion int) string {
	if ipVersion == 6 {
		return "ip6tables"
	}
	return "iptables"
}

// Firewall is what a notrack rule read gathers in one remote command.
type Firewall struct {
	Layout string // "rhel" or "debian"
	Rules  File   // the rules file, exact bytes
	// LiveRaw and LiveFilter are iptables-save output of the running raw
	// and filter tables; empty when the table is not loaded (a legacy table
	// is only read when it exists, since reading it would load its module).
	LiveRaw, LiveFilter string
}

// firewallProbes follow readPrelude: $1 and $2 the RHEL and Debian
// rules file (the same path when one is declared), $3 iptables or
// ip6tables; which file counts is known from the layout after the read. On the legacy backend a table is listed only when its module
// is already loaded (/proc/net/ip*_tables_names): asking for it would load
// it. iptables-nft-save only lists what exists.
const firewallProbes = `fx rules_rhel "$1"
[ "$2" = "$1" ] || fx rules_debian "$2"
shift 2
v=$("$1" -V 2>/dev/null)
names=/proc/net/ip_tables_names; [ "$1" = ip6tables ] && names=/proc/net/ip6_tables_names
live() { case "$v" in *nf_tables*) "$2-save" -t "$1" ;; *) if grep -qx "$1" "$names"; then "$2-save" -t "$1"; fi ;; esac; }
s live_raw; live raw "$1"
s live_filter; live filter "$1"
`

// FirewallScript is the script (and its arguments) for one notrack rule
// read: rulesFile when declared, else both layouts' files, so that one
// remote command suffices before the layout is known.
func FirewallScript(rulesFile string, ipVersion int) (string, []string) {
	rhel, debian := rulesFile, rulesFile
	if rulesFile == "" {
		rhel, debian = RulesFile("rhel", ipVersion), RulesFile("debian", ipVersion)
	}
	return readPrelude + fileProbe + firewallProbes + "s end\n",
		[]string{rhel, debian, IptablesCommand(ipVersion)}
}

// ParseFirewall parses the output of FirewallScript with the same
// rulesFile and ipVersion.
func ParseFirewall(out, rulesFile string, ipVersion int) (Firewall, error) {
	sec, err := splitSections(out)
	if err != nil {
		return Firewall{}, err
	}
	fw := Firewall{Layout: parseLayout(sec), LiveRaw: sec["live_raw"], LiveFilter: sec["live_filter"]}
	section := "file_rules_rhel"
	if rulesFile == "" {
		rulesFile = RulesFile(fw.Layout, ipVersion)
		if fw.Layout == "debian" {
			section = "file_rules_debian"
		}
	}
	if fw.Rules, err = parseFile(sec[section], rulesFile); err != nil {
		return Firewall{}, err
	}
	return fw, nil
}

// rollbackScript arms the lock-out protection, then applies rule changes.
// $1 iptables or ip6tables, $2 seconds; each further argument is one
// change, fields separated by \037: op (add|del), table, chain, rule args.
// Values stay positional: nothing is spliced into the script.
//
// Before touching anything it saves the whole ruleset and starts a detached
// timer that restores it after $2 seconds unless $snap.armed was removed by
// then, which the provider does over a new SSH connection once it has
// checked that the host is still reachable.
const rollbackScript = `cmd=$1; seconds=$2; shift 2
snap=$(mktemp /run/conntrack-tf-rollback.XXXXXX 2>/dev/null || mktemp /tmp/conntrack-tf-rollback.XXXXXX) || exit 1
"$cmd-save" > "$snap" || exit 1
# Restoring a table resets it; a table missing from the save would keep
# the new rules, so the tables a change touches are saved empty.
grep -q "^[*]raw" "$snap" || printf "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n" >> "$snap"
grep -q "^[*]filter" "$snap" || printf "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n" >> "$snap"
: > "$snap.armed"
setsid sh -c 'sleep "$1"; if rm "$2.armed" 2>/dev/null; then "$3-restore" < "$2"; echo fired > "$2.fired"; fi' sh "$seconds" "$snap" "$cmd" </dev/null >/dev/null 2>&1 &
printf "@@snap\t%s\n" "$snap"
one() {
	op=$1; t=$2; c=$3; shift 3
	case $op in
	add) "$cmd" -w -t "$t" -C "$c" "$@" 2>/dev/null || "$cmd" -w -t "$t" -A "$c" "$@" ;;
	ins) "$cmd" -w -t "$t" -C "$c" "$@" 2>/dev/null || "$cmd" -w -t "$t" -I "$c" 1 "$@" ;;
	del) while "$cmd" -w -t "$t" -C "$c" "$@" 2>/dev/null; do "$cmd" -w -t "$t" -D "$c" "$@" || return 1; done ;;
	esac
}
us=$(printf "\037")
set -f
for change in "$@"; do
	IFS=$us; set -- $change; unset IFS
	if ! err=$(one "$@" 2>&1); then printf "@@fail\t%s\t%s\n" "$3" "$(echo $err)"; fi
done
printf "@@done\n"
`

// Change is one live rule change.
type Change struct {
	Op    string // add (append), ins (insert first) or del
	Table string
	Chain string
	Args  []string
}

// RollbackScript returns the script and arguments that arm the rollback and
// apply changes with the given iptables command.
func RollbackScript(cmd string, seconds int, changes []Change) (string, []string) {
	args := []string{cmd, strconv.Itoa(seconds)}
	for _, c := range changes {
		args = append(args, strings.Join(append([]string{c.Op, c.Table, c.Chain}, c.Args...), "\037"))
	}
	return rollbackScript, args
}

// RollbackResult is what the apply script reported.
type RollbackResult struct {
	Snapshot string            // path of the saved ruleset; "" if nothing was armed
	Failed   map[string]string // chain -> the iptables error
	Done     bool              // every change was attempted
}

// ParseRollback reads the apply script's report.
func ParseRollback(out string) RollbackResult {
	r := RollbackResult{Failed: map[string]string{}}
	for _, line := range strings.Split(out, "\n") {
		f := strings.SplitN(line, "\t", 3)
		switch {
		case f[0] == "@@snap" && len(f) == 2:
			r.Snapshot = f[1]
		case f[0] == "@@fail" && len(f) == 3:
			r.Failed[f[1]] = f[2]
		case f[0] == "@@done":
			r.Done = true
		}
	}
	return r
}

// ConfirmScript disarms the rollback armed with snapshot $1: it prints
// "confirmed", or "fired" when the rollback already restored the ruleset.
const ConfirmScript = `if rm "$1.armed" 2>/dev/null; then rm -f "$1"; echo confirmed; elif [ -e "$1.fired" ]; then rm -f "$1" "$1.fired"; echo fired; else echo unknown; fi`
