package conntrack_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/sshx"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// fullRunScript arms a guard ($2 the arm script, then its arguments) with
// /run a private tmpfs that has only $1 pages free, as on a host whose
// /run is full. Armed, it makes the change (a raw rule, new file bytes)
// and waits for the timer's restore, then checks that it restored both;
// refused, it checks that nothing was left under /run.
const fullRunScript = `k=$1; shift
iptables -w -t raw -F PREROUTING && echo old > /etc/ctt-guard-test || exit 97
exec unshare -m sh -c '
mount -t tmpfs -o size=$(( ($1 + 1) * 4 ))k none /run || exit 97
head -c 4096 /dev/zero > /run/filler || exit 97
shift
out=$(sh -c "$@" 2>&1)
case $out in
*"@@armed	"*)
	g=$(printf "%s\n" "$out" | sed -n "s/^@@armed	\([^	]*\)	.*/\1/p")
	iptables -w -t raw -A PREROUTING -p udp --dport 9 -j ACCEPT -m comment --comment ctt-guard-change
	echo new > /etc/ctt-guard-test
	n=0; while [ -d "$g" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done
	[ ! -d "$g" ] || { echo "armed, but not restored within 10 s"; exit 0; }
	iptables-save -t raw | grep -q ctt-guard-change && { echo "armed, but the restore kept the rule: $out"; exit 0; }
	[ "$(cat /etc/ctt-guard-test)" = old ] || { echo "armed, but the restore did not put the file back: $out"; exit 0; }
	echo armed-ok ;;
*"@@guardfail	"*)
	if ls -d /run/conntrack-tf-guard.* >/dev/null 2>&1; then echo "refused, but left $(ls -d /run/conntrack-tf-guard.*)"; exit 0; fi
	echo refused ;;
*) echo "neither armed nor refused: $out" ;;
esac' sh "$k" "$@"
`

// A guard that cannot save what it would restore (a full /run) must refuse
// the change (@@guardfail, nothing left), never say "armed" over a rollback
// that does not work: with 0, 1, 2, ... free pages of /run, every arm is
// either refused or restores the table and the file.
func TestGuardRefusesWhenItCannotArmAWorkingRollback(t *testing.T) {
	t.Parallel()
	if os.Getenv("TF_ACC") == "" {
		t.Skip("host tests run with TF_ACC=1 (make test)")
	}
	h := testhost.New(t, testhost.Options{})
	script, args := conntrack.ArmScript(conntrack.Guard{Seconds: 1, Kind: conntrack.GuardFirewall(4), Label: "adding a test rule",
		Tables: []conntrack.GuardTable{{Cmd: "iptables", Table: "raw"}}, Files: []string{"/etc/ctt-guard-test"}})
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = sshx.Quote(a)
	}
	var armed, refused int
	for k := 0; k <= 18; k++ {
		out, err := h.Exec(t.Context(), "sh -c "+sshx.Quote(fullRunScript)+" sh "+strconv.Itoa(k)+" "+sshx.Quote(script)+" sh "+strings.Join(quoted, " "))
		if err != nil {
			t.Fatalf("%d free pages: %v", k, err)
		}
		switch got := strings.TrimSpace(out); got {
		case "armed-ok":
			armed++
		case "refused":
			refused++
		default:
			t.Errorf("%d free pages of /run: %s", k, got)
		}
	}
	t.Logf("%d arms refused, %d armed and restored", refused, armed)
	if armed == 0 || refused == 0 {
		t.Fatalf("the sweep must see both a refused and a working arm: %d refused, %d armed", refused, armed)
	}
}

// A rollback puts a file back through its symlink, so a link stays a link
// (the rollback used to rename a regular file over it), and a guard refuses
// a file whose link leads out of its top directory (/etc), as writes do.
// Its outcome record is not world-readable.
func TestGuardRollbackKeepsALinkALink(t *testing.T) {
	t.Parallel()
	if os.Getenv("TF_ACC") == "" {
		t.Skip("host tests run with TF_ACC=1 (make test)")
	}
	h := testhost.New(t, testhost.Options{})
	arm := func(file string) string {
		script, args := conntrack.ArmScript(conntrack.Guard{Seconds: 1, Kind: conntrack.GuardServices, Label: "a test change", Files: []string{file}})
		cmd := "sh -c " + sshx.Quote(script) + " sh"
		for _, a := range args {
			cmd += " " + sshx.Quote(a)
		}
		out, _ := h.Exec(t.Context(), cmd) // a refused arm exits 1
		return out
	}
	if _, err := h.Exec(t.Context(), "mkdir -p /etc/ctt.d && echo old > /etc/ctt.d/real.conf && ln -s ctt.d/real.conf /etc/ctt-link.conf && "+
		"echo victim > /run/lock/ctt-victim && ln -s /run/lock/ctt-victim /etc/ctt-out.conf"); err != nil {
		t.Fatal(err)
	}
	out := arm("/etc/ctt-link.conf")
	r := conntrack.ParseGuarded(out)
	if r.Dir == "" {
		t.Fatalf("not armed: %q", out)
	}
	// The change, through the link; then the timer's rollback.
	got, err := h.Exec(t.Context(), "echo new > /etc/ctt-link.conf; n=0; while [ -d "+sshx.Quote(r.Dir)+" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done; "+
		"readlink /etc/ctt-link.conf; cat /etc/ctt.d/real.conf; ls /etc/ctt.d; sed 1d "+sshx.Quote(r.Dir+".outcome")+"; stat -c %a "+sshx.Quote(r.Dir+".outcome")+"; rm -f "+sshx.Quote(r.Dir+".outcome"))
	if err != nil {
		t.Fatal(err)
	}
	// The outcome record (what changed, why a restore failed) is root's
	// alone: 0600, like the guard directory.
	if want := "ctt.d/real.conf\nold\nreal.conf\nrestored\n600\n"; got != want {
		t.Fatalf("after the rollback: %q, want %q", got, want)
	}
	// A link out of /etc: refused, nothing armed.
	if r := conntrack.ParseGuarded(arm("/etc/ctt-out.conf")); r.Dir != "" || !strings.Contains(r.GuardFail, "/run/lock/ctt-victim") {
		t.Fatalf("a guard over a link out of /etc: %+v", r)
	}
}
