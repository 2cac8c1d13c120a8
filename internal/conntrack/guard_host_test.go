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
