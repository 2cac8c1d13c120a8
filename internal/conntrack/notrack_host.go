package conntrack

import (
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
	// Command is where the iptables (ip6tables) command is; empty where
	// the host has none (RHEL 10, minimal images: nftables only).
	Command string
	// Guard are the rolled-back changes of this IP version recorded since
	// the last read (each is reported once).
	Guard []GuardOutcome
}

// nfTablesUsable defines nfok: whether nf_tables is loaded or built in, or
// the kernel cannot load modules at all. A read must not load a module, and
// nft or an iptables-nft command would load nf_tables: they run only when
// nfok holds. The answer is kept for the rest of the script ($nfk): a
// combined read asks several times.
const nfTablesUsable = `nfok() {
	if [ -z "$nfk" ]; then
		nfk=no
		if [ ! -e /proc/modules ] || grep -q "^nf_tables " /proc/modules; then nfk=yes
		else kb=/lib/modules/$(uname -r)/modules.builtin; if [ ! -e "$kb" ] || grep -q "/nf_tables[.]ko" "$kb"; then nfk=yes; fi
		fi
	fi
	[ "$nfk" = yes ]
}
`

// firewallProbes follow readPrelude: $1 and $2 the RHEL and Debian
// rules file (the same path when one is declared), $3 iptables or
// ip6tables; which file counts is known from the layout after the read. On the legacy backend a table is listed only when its module
// is already loaded (/proc/net/ip*_tables_names): asking for it would load
// it. iptables-nft-save only lists what exists.
const firewallProbes = `fx rules_rhel "$1"
[ "$2" = "$1" ] || fx rules_debian "$2"
shift 2
names=/proc/net/ip_tables_names; [ "$1" = ip6tables ] && names=/proc/net/ip6_tables_names
# A read must not load a module: nft tables exist only where nfok holds,
# legacy ones are listed in $names; and "iptables-nft -V" opens a netfilter
# netlink socket, which loads nfnetlink, so the variant comes from the
# name of the command where that tells.
` + nfTablesUsable + `s iptables_command; ipt=$(command -v "$1") && echo "$ipt"
case $(readlink -f "$ipt" 2>/dev/null) in
*nft*) v=nf_tables ;;
*legacy*|"") v=legacy ;;
*) if nfok; then v=$("$1" -V 2>/dev/null); else v=legacy; fi ;;
esac
live() { case "$v" in *nf_tables*) if nfok; then "$2-save" -t "$1"; fi ;; *) if grep -qx "$1" "$names"; then "$2-save" -t "$1"; fi ;; esac; }
s live_raw; live raw "$1"
s live_filter; live filter "$1"
case $1 in ip6tables) gk=firewall6 ;; *) gk=firewall4 ;; esac
` + guardOutcomes

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
	fw := Firewall{Layout: parseLayout(sec), LiveRaw: sec["live_raw"], LiveFilter: sec["live_filter"], Command: sec.line("iptables_command"),
		Guard: parseGuardOutcomes(sec)}
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

// notrackBody applies rule changes under a guard (ArmScript): $1
// iptables or ip6tables; each further argument is one change, fields
// separated by \037: op (add|ins|del), table, chain, rule args. Globbing
// is off before the split, so a field is never expanded. It prints
// "@@fail CHAIN WHY" for each change iptables refused and "@@done" only
// when every change applied.
const notrackBody = `cmd=$1; shift
one() {
	op=$1; t=$2; c=$3; shift 3
	case $op in
	add) "$cmd" -w -t "$t" -C "$c" "$@" 2>/dev/null || "$cmd" -w -t "$t" -A "$c" "$@" ;;
	ins) "$cmd" -w -t "$t" -C "$c" "$@" 2>/dev/null || "$cmd" -w -t "$t" -I "$c" 1 "$@" ;;
	del) while "$cmd" -w -t "$t" -C "$c" "$@" 2>/dev/null; do "$cmd" -w -t "$t" -D "$c" "$@" || return 1; done ;;
	*) echo "unknown change $op"; return 1 ;;
	esac
}
us=$(printf "\037")
set -f
failed=
for change in "$@"; do
	IFS=$us; set -- $change; unset IFS
	if ! err=$(one "$@" 2>&1); then failed=1; printf "@@fail\t%s\t%s\n" "$3" "$(echo $err)"; fi
done
[ -n "$failed" ] || printf "@@done\n"
`

// Change is one live rule change.
type Change struct {
	Op    string // add (append), ins (insert first) or del
	Table string
	Chain string
	Args  []string
}

// NotrackScript returns the script and arguments that apply changes with
// the given iptables command, and the tables they touch (what a guard
// saves).
func NotrackScript(cmd string, changes []Change) (string, []string, []GuardTable) {
	var tables []GuardTable
	seen := map[string]bool{}
	args := []string{cmd}
	for _, c := range changes {
		if !seen[c.Table] {
			seen[c.Table] = true
			tables = append(tables, GuardTable{Cmd: cmd, Table: c.Table})
		}
		args = append(args, strings.Join(append([]string{c.Op, c.Table, c.Chain}, c.Args...), "\037"))
	}
	return notrackBody, args, tables
}
