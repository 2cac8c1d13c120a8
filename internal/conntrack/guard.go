package conntrack

import (
	"strconv"
	"strings"
)

// A guarded change is a live change that can cut SSH (NOTRACK rules, a
// firewall service start). The host itself saves what it will restore,
// arms a timer that outlives the SSH session, applies, and restores by
// itself unless a new login confirms a complete apply in time:
//
//	ArmScript         saves the tables and files, arms the timer ($g/armed)
//	(file writes)     over SFTP, before the live change can cut the session
//	<body>            the change; prints @@done only when all of it applied
//	SettleScript      over a new login: confirm, or roll back now
//	guardRestore      (the timer) restores tables and files, checks each
//	                  step, records the outcome in $g.outcome
//
// $g is a directory /run/conntrack-tf-guard.NETNS.KIND.XXXXXX: NETNS (the
// network namespace's inode) keeps the records of hosts sharing one /run
// (containers, network namespaces) apart; KIND names which resource's read
// reports the outcome. Removing $g/armed is the atomic claim: the timer,
// a confirmation and a rollback-now each act only if they removed it.

// Guard kinds: which read reports a rolled-back change.
const (
	GuardServices = "services"
	GuardLimits   = "limits"
)

// GuardFirewall is the guard kind of a notrack rule change of ipVersion.
func GuardFirewall(ipVersion int) string { return "firewall" + strconv.Itoa(ipVersion) }

// guardNS sets $ns to the network namespace's inode (0 when unknown).
const guardNS = `ns=$(stat -L -c %i /proc/self/ns/net 2>/dev/null) || ns=0
`

// guardNSOnce is guardNS unless the script set $ns already (each script
// starts with ns unset): a combined read has several parts that need it.
const guardNSOnce = `[ -n "$ns" ] || ns=$(stat -L -c %i /proc/self/ns/net 2>/dev/null) || ns=0
`

// guardPrelude (ArmScript): $1 seconds, $2 kind, $3 label (what the change
// is, for the outcome record), $4 the number of tables, then per table its
// iptables command and name; then the number of files and their paths;
// then the number of services to stop on rollback and per service its
// init tool (systemd, chkconfig, update-rc.d) and name; then the number of
// running values (/proc/sys or /sys files) and their paths. Nothing is
// spliced: every value stays positional or in a file of $g.
const guardPrelude = guardNS + `seconds=$1; kind=$2
umask 077
g=$(mktemp -d "/run/conntrack-tf-guard.$ns.$kind.XXXXXX") || { printf "@@guardfail\tcannot create a directory under /run\n"; exit 1; }
gfail() { printf "@@guardfail\t%s\n" "$*"; rm -rf "$g"; exit 1; }
# Every byte the rollback needs is checked as it is written: a full /run
# fails writes, and iptables-save exits 0 over a failed one, so a guard
# that did not check could say "armed" over a rollback that cannot work.
# put FILE TEXT: TEXT and a newline into FILE, read back.
put() { printf "%s\n" "$2" > "$1" && [ "$(cat "$1")" = "$2" ] || gfail "cannot write $1 (is /run full?)"; }
# keep FILE CMD...: CMD's output into FILE. Returns CMD's status, or 3 when
# FILE did not get every byte CMD printed.
keep() {
	kf=$1; shift
	kn=$( { "$@" 2>"$g/err"; echo $? > "$g/rc"; } | tee -- "$kf" 2>/dev/null | wc -c) || return 3
	kr=$(cat "$g/rc" 2>/dev/null) && [ -n "$kr" ] && km=$(wc -c < "$kf") && [ $((km)) -eq $((kn)) ] || return 3
	return "$kr"
}
full() { gfail "cannot keep $1 in $g (is /run full?)"; }
` + guardResolve + `put "$g/label" "$3"
shift 3
n=$1; shift; i=0
while [ "$n" -gt 0 ]; do
	if [ "$1" = nft ]; then
		# An nftables table (conntrack_nft_notrack_rule): saved as a file
		# that replaces it whole, or removes it when it did not exist.
		i=$((i+1)); put "$g/t$i.cmd" nft; put "$g/t$i.table" "$2"
		keep "$g/t$i.list" nft list table $2; [ $? != 3 ] || full "the nft table $2"
		{ printf "table %s\ndelete table %s\n" "$2" "$2" && cat "$g/t$i.list"; } > "$g/t$i.save" || full "the nft table $2"
		rm -f "$g/t$i.list"
		shift 2; n=$((n-1)); continue
	fi
	if [ "$2" = "*" ] && ! command -v "$1-save" >/dev/null; then shift 2; n=$((n-1)); continue; fi
	i=$((i+1)); put "$g/t$i.cmd" "$1"; put "$g/t$i.table" "$2"
	if [ "$2" = "*" ]; then
		# Every table of a family (a service start): a family the host
		# cannot list (no IPv6, say) has nothing to restore.
		keep "$g/t$i.save" "$1-save"; r=$?
		[ "$r" != 3 ] || full "the $1 tables"
		if [ "$r" != 0 ]; then rm -f "$g/t$i.save" "$g/t$i.cmd" "$g/t$i.table"; i=$((i-1)); fi
	else
		keep "$g/t$i.save" "$1-save" -t "$2"; r=$?
		[ "$r" != 3 ] || full "the $1 table $2"
		[ "$r" = 0 ] || gfail "$1-save -t $2: $(cat "$g/err")"
	fi
	# A table missing from the save (not loaded yet) is restored empty:
	# restoring reset it, a missing one would keep the new rules.
	if [ "$2" != "*" ] && ! grep -q "^[*]$2\$" "$g/t$i.save"; then
		case $2 in
		raw) c="PREROUTING OUTPUT" ;; filter|security) c="INPUT FORWARD OUTPUT" ;;
		mangle) c="PREROUTING INPUT FORWARD OUTPUT POSTROUTING" ;; nat) c="PREROUTING INPUT OUTPUT POSTROUTING" ;;
		*) c= ;;
		esac
		empty="*$2"
		for ch in $c; do empty="$empty
:$ch ACCEPT [0:0]"; done
		printf "%s\nCOMMIT\n" "$empty" >> "$g/t$i.save" || full "the $1 table $2"
	fi
	shift 2; n=$((n-1))
done
n=$1; shift; i=0
while [ "$n" -gt 0 ]; do
	i=$((i+1)); put "$g/f$i.path" "$1"
	# Put back through its links, so only inside its top directory, as
	# writes are (sshx.TopDir).
	r=$(resolve "$1") || gfail "$1 resolves to $r: refused"
	if [ -e "$1" ]; then cp -p "$1" "$g/f$i.copy" 2>"$g/err" || gfail "save $1: $(cat "$g/err")"; else : > "$g/f$i.absent" || full "$1"; fi
	shift; n=$((n-1))
done
n=$1; shift; i=0
while [ "$n" -gt 0 ]; do
	i=$((i+1)); put "$g/s$i.tool" "$1"; put "$g/s$i.name" "$2"; put "$g/s$i.action" "$3"
	shift 3; n=$((n-1))
done
n=$1; shift; i=0
while [ "$n" -gt 0 ]; do
	i=$((i+1)); put "$g/v$i.path" "$1"
	cat "$1" > "$g/v$i.value" 2>"$g/err" || gfail "save $1: $(cat "$g/err")"
	shift; n=$((n-1))
done
cat > "$g/restore" <<'RESTORE' || full "the rollback script"
` + guardRestore + `RESTORE
put "$g/deadline" $(( $(date +%s) + seconds ))
# The guards still armed now (this run's changes awaiting their one
# confirmation): their saves predate this change, so a rollback of any of
# them restores this one first (guardRestore).
under=$(for d in /run/conntrack-tf-guard."$ns".*/; do d=${d%/}; [ "$d" = "$g" ] || [ ! -e "$d/armed" ] || printf "%s\n" "$d"; done)
put "$g/under" "$under"
put "$g/timer" systemd
rm -f "$g/rc" "$g/err"
: > "$g/armed" || full "the armed mark"
if [ -d /run/systemd/system ] && [ "$(stat -L -c %i /proc/1/ns/net)" = "$ns" ] &&
	[ "$(stat -L -c %i /proc/1/ns/mnt)" = "$(stat -L -c %i /proc/self/ns/mnt)" ] &&
	systemd-run --quiet --unit="${g##*/}" --on-active="$seconds" --timer-property=AccuracySec=100ms /bin/sh "$g/restore" "$g" >"$g/err" 2>&1; then
	:
else
	put "$g/timer" setsid
	setsid sh "$g/restore" "$g" "$seconds" </dev/null >/dev/null 2>&1 &
fi
rm -f "$g/err"
printf "@@armed\t%s\t%s\n" "$g" "$(cat "$g/timer")"
`

// guardRestore is the timer's script: $1 the guard directory, $2 (when
// set) seconds to sleep first. It undoes the service actions (stop,
// disable), writes the saved running values back, restores each saved table alone (-T: tables the change did
// not touch, say Docker's nat, are left as they are; "*", every table
// saved), puts each saved file back
// atomically (temp file in its directory, mode and owner kept, rename) or
// removes a file that did not exist, checks every step, and records the
// outcome in $1.outcome (mode 0600: the change and the reasons are root's
// alone): the label, then "restored" or "restore-failed: WHY". First it restores every guard armed on top of this one (whose
// $d/under names it): their saves hold this change, so restoring this one
// first and them after would bring it back. Each restores those on top of
// it first, so the changes are undone newest first; one that someone else
// (its own timer, a rollback-now) is restoring is waited for, up to 30 s.
const guardRestore = `set -f
umask 077
g=$1
` + guardResolve + `[ -z "$2" ] || sleep "$2"
rm "$g/armed" 2>/dev/null || exit 0
set +f
for d in "${g%.*.*}".*/; do
	d=${d%/}
	[ "$d" != "$g" ] && [ -f "$d/under" ] && grep -qxF "$g" "$d/under" || continue
	sh "$d/restore" "$d"
	n=0; while [ -d "$d" ] && [ "$n" -lt 60 ]; do sleep 0.5; n=$((n+1)); done
done
set -f
why=
bad() { why="$why${why:+; }$*"; }
i=1
while [ -e "$g/s$i.name" ]; do
	tool=$(cat "$g/s$i.tool"); svc=$(cat "$g/s$i.name"); act=$(cat "$g/s$i.action")
	case "$tool/$act" in
	systemd/stop|systemd/disable) out=$(systemctl "$act" "$svc.service" 2>&1) ;;
	chkconfig/disable) out=$(chkconfig "$svc" off 2>&1) ;;
	update-rc.d/disable) out=$(update-rc.d "$svc" disable 2>&1) ;;
	*/stop) if command -v service >/dev/null; then out=$(service "$svc" stop 2>&1); else out=$("/etc/init.d/$svc" stop 2>&1); fi ;;
	*) out="cannot $act with $tool"; false ;;
	esac || bad "$act $svc: $(echo $out)"
	i=$((i+1))
done
i=1
while [ -e "$g/v$i.path" ]; do
	p=$(cat "$g/v$i.path")
	out=$( { printf "%s\n" "$(cat "$g/v$i.value")" > "$p"; } 2>&1) || bad "write $p: $(echo $out)"
	i=$((i+1))
done
i=1
while [ -e "$g/t$i.save" ]; do
	cmd=$(cat "$g/t$i.cmd"); t=$(cat "$g/t$i.table")
	if [ "$cmd" = nft ]; then
		out=$(nft -f "$g/t$i.save" 2>&1) || bad "nft -f (table $t): $(echo $out)"
	elif [ "$t" = "*" ]; then
		out=$("$cmd-restore" -w 10 < "$g/t$i.save" 2>&1) || bad "$cmd-restore: $(echo $out)"
	else
		out=$("$cmd-restore" -w 10 -T "$t" < "$g/t$i.save" 2>&1) || bad "$cmd-restore -T $t: $(echo $out)"
	fi
	i=$((i+1))
done
i=1
while [ -e "$g/f$i.path" ]; do
	p=$(cat "$g/f$i.path")
	if ! r=$(resolve "$p"); then
		bad "put back $p: it resolves to $r"
	elif [ -e "$g/f$i.absent" ]; then
		rm -f "$r" || bad "remove $p"
	else
		tmp=$(mktemp "$r.conntrack-tf.XXXXXX") && cp -p "$g/f$i.copy" "$tmp" && mv -f "$tmp" "$r" || { rm -f "$tmp"; bad "put back $p"; }
	fi
	i=$((i+1))
done
sync
{ cat "$g/label"; if [ -z "$why" ]; then echo restored; else echo "restore-failed: $why"; fi; } > "$g.outcome.tmp" && mv -f "$g.outcome.tmp" "$g.outcome"
rm -rf "$g"
`

// guardResolve defines resolve PATH: prints PATH with its symlinks
// followed, or fails printing "RESOLVED, outside TOP" when that leads out
// of PATH's top directory, as sshx.TopDir and the write script do: the rollback
// replaces the file a link points to, never the link, and never a file
// outside the directory its path was validated under.
const guardResolve = `resolve() {
	rr=$(readlink -f -- "$1") || rr=$1
	top=${1#/}; case $top in */*) top=/${top%%/*} ;; *) top= ;; esac
	case $rr in "$top"/*) printf "%s\n" "$rr" ;; *) printf "%s, outside %s\n" "$rr" "${top:-/}"; return 1 ;; esac
}
`

// GuardTable is a table a guarded change touches: Cmd is iptables or
// ip6tables (Table a table name), or nft (Table "inet NAME").
type GuardTable struct{ Cmd, Table string }

// GuardService is a service action that undoes a change (Action stop or
// disable): Tool is systemd, chkconfig or update-rc.d.
type GuardService struct{ Tool, Name, Action string }

// Guard is what the host saves, and restores unless confirmed.
type Guard struct {
	Seconds int
	Kind    string // GuardFirewall(v) or GuardServices
	Label   string // the change, as the outcome's warning names it
	Tables  []GuardTable
	Files   []string
	Undo    []GuardService
	// Values are running values (/proc/sys, /sys/module files) written
	// back as they were.
	Values []string
}

// args are the guard prelude's arguments.
func (g Guard) args() []string {
	a := []string{strconv.Itoa(g.Seconds), g.Kind, strings.ReplaceAll(g.Label, "\n", " "), strconv.Itoa(len(g.Tables))}
	for _, t := range g.Tables {
		a = append(a, t.Cmd, t.Table)
	}
	a = append(a, strconv.Itoa(len(g.Files)))
	a = append(a, g.Files...)
	a = append(a, strconv.Itoa(len(g.Undo)))
	for _, s := range g.Undo {
		a = append(a, s.Tool, s.Name, s.Action)
	}
	a = append(a, strconv.Itoa(len(g.Values)))
	return append(a, g.Values...)
}

// ArmScript is the script and arguments that save what g restores and arm
// its timer.
func ArmScript(g Guard) (string, []string) { return guardPrelude, g.args() }

// GuardResult is what arming and a guarded apply reported.
type GuardResult struct {
	Dir       string            // the guard directory; "" if nothing was armed
	Timer     string            // "systemd" or "setsid"
	GuardFail string            // why the guard could not be armed
	Failed    map[string]string // what failed -> why
	Done      bool              // everything applied
	Output    string            // the whole report, for the change's own parser
}

// ParseGuarded reads a guarded apply's report.
func ParseGuarded(out string) GuardResult {
	r := GuardResult{Failed: map[string]string{}, Output: out}
	for _, line := range strings.Split(out, "\n") {
		f := strings.SplitN(line, "\t", 3)
		switch {
		case f[0] == "@@armed" && len(f) == 3:
			r.Dir, r.Timer = f[1], f[2]
		case f[0] == "@@guardfail" && len(f) == 2:
			r.GuardFail = f[1]
		case f[0] == "@@fail" && len(f) == 3:
			r.Failed[f[1]] = f[2]
		case f[0] == "@@done":
			r.Done = true
		}
	}
	return r
}

// settleScript settles guards over one login: its arguments are pairs of
// a guard directory and "confirm" or "rollback", oldest guard first.
// confirm disarms the timer if it has not fired; rollback restores now
// (unless the timer is already at it). For each guard it prints
// "@@settle\tDIR", then "confirmed", or "rolled-back" and the outcome
// (waiting up to 30 s for a restore under way), and removes the outcome
// record, which the apply reports itself. Once a guard is not confirmed,
// every later one is rolled back instead: the older guard's restore
// restores those armed on top of it, and a confirmation racing it would
// report a change that the restore then undoes.
const settleScript = `settle1() {
	g=$1
	case $g in /run/conntrack-tf-guard.*) ;; *) echo "not a guard: $g"; return 2 ;; esac
	if [ "$2" = confirm ] && rm "$g/armed" 2>/dev/null; then
		[ "$(cat "$g/timer" 2>/dev/null)" != systemd ] || systemctl stop "${g##*/}.timer" >/dev/null 2>&1
		rm -rf "$g"
		echo confirmed
		return 0
	fi
	if [ "$2" = rollback ] && [ -e "$g/armed" ]; then
		[ "$(cat "$g/timer" 2>/dev/null)" != systemd ] || systemctl stop "${g##*/}.timer" >/dev/null 2>&1
		sh "$g/restore" "$g"
	fi
	n=0
	while [ ! -e "$g.outcome" ] && [ -d "$g" ] && [ "$n" -lt 60 ]; do sleep 0.5; n=$((n+1)); done
	if [ -e "$g.outcome" ]; then
		echo rolled-back
		sed 1d "$g.outcome"
		rm -f "$g.outcome"
	else
		echo unknown
	fi
}
bad=
while [ $# -ge 2 ]; do
	printf "@@settle\t%s\n" "$1"
	m=$2; [ -z "$bad" ] || m=rollback
	r=$(settle1 "$1" "$m")
	printf "%s\n" "$r"
	[ "$r" = confirmed ] || bad=1
	shift 2
done
`

// SettleScript is the script and arguments that confirm the change guarded
// by dir (confirm true) or roll it back now.
func SettleScript(dir string, confirm bool) (string, []string) {
	return SettleBatchScript([]string{dir}, []bool{confirm})
}

// SettleBatchScript is the script and arguments that settle the guards of
// dirs (oldest first) over one login: confirm[i] confirms dirs[i], else it
// is rolled back now; a guard after one that is not confirmed is rolled
// back.
func SettleBatchScript(dirs []string, confirm []bool) (string, []string) {
	args := make([]string, 0, 2*len(dirs))
	for i, d := range dirs {
		mode := "rollback"
		if confirm[i] {
			mode = "confirm"
		}
		args = append(args, d, mode)
	}
	return settleScript, args
}

// ParseSettleBatch reads SettleBatchScript's answer for dirs: each
// guard's answer follows its "@@settle" line (an answer without any such
// line is the answer for the only guard asked). A guard without an answer
// is not settled.
func ParseSettleBatch(out string, dirs []string) map[string]Settled {
	parts := map[string]*strings.Builder{}
	var cur *strings.Builder
	if len(dirs) == 1 && !strings.Contains(out, "@@settle\t") {
		cur = &strings.Builder{}
		parts[dirs[0]] = cur
	}
	for _, line := range strings.Split(out, "\n") {
		if d, ok := strings.CutPrefix(line, "@@settle\t"); ok {
			cur = &strings.Builder{}
			parts[d] = cur
			continue
		}
		if cur != nil {
			cur.WriteString(line + "\n")
		}
	}
	st := make(map[string]Settled, len(dirs))
	for _, d := range dirs {
		if p := parts[d]; p != nil {
			st[d] = ParseSettle(p.String())
		}
	}
	return st
}

// Settled is what SettleScript reported.
type Settled struct {
	Confirmed, RolledBack bool
	// Outcome is "restored" or "restore-failed: WHY" after a rollback.
	Outcome string
}

// ParseSettle reads SettleScript's answer.
func ParseSettle(out string) Settled {
	first, rest, _ := strings.Cut(strings.TrimSpace(out), "\n")
	switch strings.TrimSpace(first) {
	case "confirmed":
		return Settled{Confirmed: true}
	case "rolled-back":
		return Settled{RolledBack: true, Outcome: strings.TrimSpace(rest)}
	}
	return Settled{}
}

// guardOutcomes follows readPrelude: the outcome records of kind $gk on
// this network namespace, each "@@guard LABEL\tOUTCOME" on one line; a
// record is reported once, then removed.
const guardOutcomes = `s guard
` + guardNSOnce + `for o in /run/conntrack-tf-guard."$ns"."$gk".*.outcome; do
	if [ -f "$o" ]; then printf "%s\t%s\n" "$(head -n 1 "$o")" "$(sed 1d "$o" | tr "\n" " ")"; rm -f "$o"; fi
done
`

// GuardOutcome is a rolled-back change that a read found recorded.
type GuardOutcome struct {
	Label   string // the change
	Outcome string // "restored" or "restore-failed: WHY"
}

// Failed says the host could not restore everything.
func (o GuardOutcome) Failed() bool { return o.Outcome != "restored" }

// parseGuardOutcomes reads the guard section.
func parseGuardOutcomes(sec sections) []GuardOutcome {
	var out []GuardOutcome
	for _, l := range sec.lines("guard") {
		label, outcome, ok := strings.Cut(l, "\t")
		if ok {
			out = append(out, GuardOutcome{Label: label, Outcome: strings.TrimSpace(outcome)})
		}
	}
	return out
}

// guardsSettle waits, up to $1 seconds, until no guarded change of this
// network namespace is pending: armed (until 5 s past its deadline, when
// its timer has fired) or restoring (until 30 s past it). A guard
// directory past those is stale and ignored. It returns 1, with "held by
// WHAT" on stderr, when the wait ran out.
const guardsSettle = `guardsSettle() {
	lim=${1%.*}; n=0
	while :; do
		now=; busy=
		for d in /run/conntrack-tf-guard."$ns".*/; do
			[ -d "$d" ] || continue
			[ -n "$now" ] || now=$(date +%s)
			dl=$(cat "$d/deadline" 2>/dev/null) || dl=0
			if [ -e "$d/armed" ]; then [ "$now" -gt $((dl + 5)) ] || busy=${d%/}
			else [ "$now" -gt $((dl + 30)) ] || busy=${d%/}; fi
		done
		[ -n "$busy" ] || return 0
		[ "$n" -lt $((lim * 2)) ] || { echo "held by the guarded change $busy, not yet confirmed or restored" >&2; return 1; }
		sleep 0.5; n=$((n+1))
	done
}
`

// GuardsSettledScript is the host lock's readiness check (sshx's
// LockHostWhen), $1 the wait in seconds: a change made while a guard is
// pending would be undone by that guard's restore (its saved files and
// values predate it), so every change waits for the guards before it.
const GuardsSettledScript = guardNS + guardsSettle + `guardsSettle "$1"
`

// settleReads starts every read: what a read sees while a guarded change
// is pending is undone when the guard fires (a killed apply), so a plan
// from it would show no change over a host about to roll back. It waits
// for the pending guards (bounded by their own deadlines).
const settleReads = guardNS + guardsSettle + `guardsSettle 900 2>/dev/null
`
