package iptables

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// These tests feed edited files to the real iptables-restore. Every command
// runs under "unshare -n", in a fresh, empty network namespace, so nothing
// touches the machine's rules. They need root (or CAP_SYS_ADMIN and
// CAP_NET_ADMIN) and the iptables tools; without them they skip.

// restore runs "unshare -n <tool> <args>" with data on stdin.
func restore(t *testing.T, data []byte, tool string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("unshare", append([]string{"-n", tool}, args...)...)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func requireRestore(t *testing.T, tools ...string) {
	t.Helper()
	// First: make unit runs without root, where /usr/sbin may not even be
	// on PATH; make test (TF_ACC=1, root) runs these and needs the tools.
	if os.Getenv("TF_ACC") == "" {
		t.Skip("runs the real iptables-restore in a network namespace as root: TF_ACC=1 (make test)")
	}
	for _, tool := range append([]string{"unshare"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (scripts/setup.sh installs it)", tool)
		}
	}
	if out, err := exec.Command("unshare", "-n", "true").CombinedOutput(); err != nil {
		t.Fatalf("cannot make a network namespace (run as root): %v %s", err, out)
	}
}

// family picks the IPv4 or IPv6 tool for a corpus file by its name.
func family(name, tool string) string {
	if strings.Contains(name, "v6") || strings.Contains(name, "ip6tables") {
		return strings.Replace(tool, "iptables", "ip6tables", 1)
	}
	return tool
}

// TestRestoreAcceptsEdits: every corpus file the real iptables-restore
// (legacy, the stricter; and nft) accepts with --test, it still accepts after
// AddRule has added raw rules to a built-in chain and to a new user chain and
// InsertRule a filter INPUT rule.
// Files the tool rejects as they are get skipped, with its message; in this
// corpus that is liimstrap (hostnames that do not resolve in an empty
// namespace), and for legacy only: ufw before.rules (it jumps to ufw-*
// chains that other ufw files define) and the ansible v6 file (its nat table
// declares FORWARD, which nat does not have). The nft tool's --test checks
// less (it lets an unknown jump target or an unterminated quote through), so
// legacy is the one that matters.
func TestRestoreAcceptsEdits(t *testing.T) {
	tools := []string{"iptables-legacy-restore", "ip6tables-legacy-restore", "iptables-nft-restore", "ip6tables-nft-restore"}
	requireRestore(t, tools...)
	checked := map[string]int{}
	for _, c := range corpusFiles(t) {
		for _, base := range []string{"iptables-legacy-restore", "iptables-nft-restore"} {
			tool := family(c.Name, base)
			t.Run(c.Name+"/"+tool, func(t *testing.T) {
				if out, err := restore(t, c.Data, tool, "--test"); err != nil {
					t.Logf("%s rejects the unedited file, so there is nothing to compare: %v\n%s", tool, err, out)
					return
				}
				f := Parse(c.Data)
				if err := f.AddRule("raw", "PREROUTING", preArgs); err != nil {
					t.Fatal(err)
				}
				if err := f.AddRule("raw", "OUTPUT", outArgs); err != nil {
					t.Fatal(err)
				}
				if err := f.AddRule("raw", "conntrack-tf", []string{"-p", "udp", "-m", "comment", "--comment", `say "hi" \ it's`, "-j", "CT", "--notrack"}); err != nil {
					t.Fatal(err)
				}
				if err := f.InsertRule("filter", "INPUT", []string{"-m", "conntrack", "--ctstate", "UNTRACKED", "-j", "ACCEPT"}); err != nil {
					t.Fatal(err)
				}
				if out, err := restore(t, f.Bytes(), tool, "--test"); err != nil {
					t.Fatalf("%s rejects the edited file: %v\n%s\nfile:\n%s", tool, err, out, f.Bytes())
				}
				checked[base]++
			})
		}
	}
	for _, base := range []string{"iptables-legacy-restore", "iptables-nft-restore"} {
		if checked[base] < 3 {
			t.Errorf("%s checked %d edited corpus files, want at least 3", base, checked[base])
		}
	}
}

// TestRestoreQuoting loads rules written by AddRule into the kernel of a
// fresh namespace and reads them back with iptables-save: the comments must
// arrive as given, so FormatArgs quotes the way iptables-restore reads.
func TestRestoreQuoting(t *testing.T) {
	requireRestore(t, "iptables-legacy-restore", "iptables-legacy-save")
	comments := []string{"conntrack-tf:abc 1", `say "hi" \ it's`, "", "User: ", `back\slash`, "tab\there"}
	f := Parse(nil)
	for _, c := range comments {
		if err := f.AddRule("raw", "OUTPUT", []string{"-m", "comment", "--comment", c, "-j", "CT", "--notrack"}); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("unshare", "-n", "sh", "-c", "iptables-legacy-restore && iptables-legacy-save -t raw")
	cmd.Stdin = bytes.NewReader(f.Bytes())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("restore and save: %v\n%s\nfile:\n%s", err, out, f.Bytes())
	}
	rules := Parse(out).Rules("raw")
	if len(rules) != len(comments) {
		t.Fatalf("iptables-save shows %d raw rules, want %d:\n%s", len(rules), len(comments), out)
	}
	for i, r := range rules {
		if got := comment(r.Args); got != comments[i] {
			t.Errorf("comment %d came back as %q, want %q (saved as %s)", i, got, comments[i], r.Raw)
		}
	}
}
