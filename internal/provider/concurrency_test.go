package provider

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// Two Terraform runs on one host at the same time (two CI jobs, two states):
// each state's conntrack_limits owns other keys of /etc/sysctl.conf and each
// has a NOTRACK rule in the same rules file. Both apply in parallel, round
// after round, each round with new values; after every round both states'
// lines, rules and live values are there and every foreign line is kept.
// The providers are two instances with pools of their own, so only the
// host's lock serialises them. CONNTRACK_CONCURRENT_ROUNDS sets the rounds
// (default 4 in make test; RELIABILITY.md has a run of 20).
func TestAccConcurrentRuns_oneHost(t *testing.T) {
	t.Parallel()
	rounds := 4
	if s := os.Getenv("CONNTRACK_CONCURRENT_ROUNDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("CONNTRACK_CONCURRENT_ROUNDS: %q is not a positive number", s)
		}
		rounds = n
	}
	h := testhost.New(t, testhost.Options{})
	foreign := "# fleet defaults\nkernel.sysrq = 0\nvm.swappiness=10\n"
	writeHostFile(t, h, defaultSysctlFile, foreign)
	hostValue(t, h, "mkdir -p /etc/iptables")
	rules := realRules(t)
	writeHostFile(t, h, "/etc/iptables/rules.v4", rules)

	type state struct {
		name, timeout, port string
		cli                 *terraformCLI
	}
	config := func(s *state, value int) string {
		return providerBlock(t, []*testhost.Host{h}, "") + fmt.Sprintf(`
resource "conntrack_limits" "l" {
  host = %[1]q
  %[2]s = %[3]d
}
resource "conntrack_notrack_rule" "r" {
  host     = %[1]q
  protocol = "udp"
  port     = %[4]q
  comment  = "state %[5]s round %[3]d"
}`, h.Addr, s.timeout, value, s.port, s.name)
	}
	states := []*state{
		{name: "a", timeout: "tcp_timeout_established", port: "5301"},
		{name: "b", timeout: "tcp_timeout_close_wait", port: "5302"},
	}
	for _, s := range states {
		s.cli = newTerraformCLI(t, config(s, 100))
	}
	// What the host holds before any run: the files the two states'
	// resources own (or may create) and the running raw table.
	before := ownedFiles(t, h)
	rawBefore := liveRaw(t, h)
	lost, waits := 0, 0
	for round := 1; round <= rounds; round++ {
		value := 100 + round
		var wg sync.WaitGroup
		errs := make([]string, len(states))
		stopWatch := watchLockWaits(t, h)
		for i, s := range states {
			s.cli.configure(config(s, value))
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, d := range s.cli.diagnostics("apply", "-auto-approve") {
					if d.Severity == "error" {
						errs[i] += d.Summary + ": " + d.Detail + "\n"
					}
				}
			}()
		}
		wg.Wait()
		roundWaits := stopWatch()
		waits += roundWaits
		t.Logf("round %d: %d waits for the host lock seen", round, roundWaits)
		for i, e := range errs {
			if e != "" {
				t.Fatalf("round %d: state %s failed:\n%s", round, states[i].name, e)
			}
		}
		sysctl := hostFile(t, h, defaultSysctlFile)
		file := hostFile(t, h, "/etc/iptables/rules.v4")
		raw := liveRaw(t, h)
		if !strings.HasPrefix(sysctl, foreign) {
			t.Errorf("round %d: foreign sysctl lines lost:\n%s", round, sysctl)
		}
		if withoutOurs(file) != rules {
			t.Errorf("round %d: foreign bytes of the rules file changed:\n%s", round, file)
		}
		if withoutCounters(withoutOurs(raw)) != withoutCounters(withoutOurs(rawBefore)) {
			t.Errorf("round %d: foreign rules of the running raw table changed:\n%s\nbefore:\n%s", round, raw, rawBefore)
		}
		// Every owned line, in the file and the kernel, is one of this
		// round's: both states' keys once each with this round's value,
		// both states' rules (both chains) with this round's comment, and
		// nothing else (no rule or line of an earlier round).
		wantLines := map[string]int{}
		var wantRules []string
		for _, s := range states {
			wantLines["net.netfilter.nf_conntrack_"+s.timeout+"="+strconv.Itoa(value)] = 1
			comment := fmt.Sprintf("state %s round %d", s.name, value)
			wantRules = append(wantRules, comment, comment)
			if got := hostInt(t, h, "cat /proc/sys/net/netfilter/nf_conntrack_"+s.timeout); got != int64(value) {
				lost++
				t.Errorf("round %d: running nf_conntrack_%s = %d, want %d", round, s.timeout, got, value)
			}
		}
		if got := ownedSysctlLines(strings.TrimPrefix(sysctl, foreign)); !maps.Equal(got, wantLines) {
			lost++
			t.Errorf("round %d: owned lines of %s %v, want %v:\n%s", round, defaultSysctlFile, got, wantLines, sysctl)
		}
		slices.Sort(wantRules)
		for _, where := range []struct{ name, text string }{{"running raw table", raw}, {"rules file", file}} {
			if got := ownedRuleComments(where.text); !slices.Equal(got, wantRules) {
				lost++
				t.Errorf("round %d: owned rules of the %s are %q, want %q:\n%s", round, where.name, got, wantRules, where.text)
			}
		}
		// Converged: a plan of each state changes nothing.
		for _, s := range states {
			changes, drift := s.cli.plannedChanges()
			if len(changes) > 0 {
				t.Errorf("round %d: state %s plans %v after its apply:\n%s", round, s.name, changes, s.cli.planText())
			}
			if len(drift) > 0 {
				t.Logf("round %d: state %s: refresh found %v changed since its apply (the other state's run); the plan is empty", round, s.name, drift)
			}
		}
	}
	t.Logf("concurrent runs: %d rounds of 2 states applying in parallel to one host; %d lost updates; %d waits for the host lock", rounds, lost, waits)
	// The two runs overlapped: one waited on the host for the other's lock.
	if waits == 0 {
		t.Errorf("no run ever waited for the host lock in %d rounds: the applies never overlapped, so this test proved nothing", rounds)
	}
	for _, s := range states {
		for _, d := range s.cli.diagnostics("destroy", "-auto-approve") {
			if d.Severity == "error" {
				t.Errorf("destroy %s: %s: %s", s.name, d.Summary, d.Detail)
			}
		}
	}
	// Clean: every file as it was before the first run (no owned line, no
	// file created, no temp file left), and the running raw table too.
	if after := ownedFiles(t, h); after != before {
		t.Errorf("after destroy the files differ from before the runs:\n%s\nbefore:\n%s", after, before)
	}
	if got := hostFile(t, h, defaultSysctlFile); got != foreign {
		t.Errorf("after destroy %s is %q", defaultSysctlFile, got)
	}
	if got := hostFile(t, h, "/etc/iptables/rules.v4"); got != rules {
		t.Errorf("after destroy /etc/iptables/rules.v4 is %q", got)
	}
	if got := liveRaw(t, h); withoutCounters(got) != withoutCounters(rawBefore) {
		t.Errorf("after destroy the running raw table is:\n%s\nbefore the runs:\n%s", got, rawBefore)
	}
}

// ownedFiles lists, with their checksums, every file under the directories
// conntrack_limits and conntrack_notrack_rule write to (sysctl, modprobe,
// modules-load, iptables rules), and the provider's temp files anywhere
// under /etc.
func ownedFiles(t *testing.T, h *testhost.Host) string {
	t.Helper()
	return hostValue(t, h, `for d in /etc/sysctl.conf /etc/sysctl.d /etc/modprobe.d /etc/modules-load.d /etc/iptables /etc/sysconfig; do
	[ -e "$d" ] && find "$d" -xdev -type f -exec sha256sum {} +
done | sort
find /etc -xdev -name '.conntrack-tf.*' | sort`)
}

// ownedSysctlLines counts the key=value settings of a sysctl file's lines
// (comments and blank lines left out), spaces removed.
func ownedSysctlLines(s string) map[string]int {
	got := map[string]int{}
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, ";") {
			continue
		}
		got[strings.Join(strings.Fields(l), "")]++
	}
	return got
}

// ownedRuleComments returns the comments of the rules this provider owns
// (lines tagged conntrack-tf:) in iptables-save text, sorted; a rule
// without a comment is "".
func ownedRuleComments(s string) []string {
	var got []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.Contains(l, conntrack.TagPrefix) {
			continue
		}
		c := ""
		if m := ruleComment.FindStringSubmatch(l); m != nil {
			c = m[1]
		}
		got = append(got, c)
	}
	slices.Sort(got)
	return got
}

// ruleComment is the user's comment in an owned rule's tag.
var ruleComment = regexp.MustCompile(`conntrack-tf:[^ "]* ([^"]*)"`)

// withoutCounters drops iptables-save's packet counters and comment lines.
func withoutCounters(s string) string {
	var kept []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "#") {
			continue
		}
		kept = append(kept, counters.ReplaceAllString(l, "[0:0]"))
	}
	return strings.Join(kept, "\n")
}

var counters = regexp.MustCompile(`\[\d+:\d+\]`)

// watchLockWaits watches h until the returned function is called, which
// returns how many processes it saw waiting for the host lock on h: the
// lock script's "flock -w", which runs only when another holder has the
// lock (sshx.LockHostWhen), in h's network namespace.
func watchLockWaits(t *testing.T, h *testhost.Host) func() int {
	t.Helper()
	netns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", h.SSHDPID))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			procs, _ := os.ReadDir("/proc")
			for _, p := range procs {
				if seen[p.Name()] {
					continue
				}
				comm, err := os.ReadFile("/proc/" + p.Name() + "/comm")
				if err != nil || string(comm) != "flock\n" {
					continue
				}
				cmd, _ := os.ReadFile("/proc/" + p.Name() + "/cmdline")
				ns, _ := os.Readlink("/proc/" + p.Name() + "/ns/net")
				if ns == netns && strings.HasPrefix(string(cmd), "flock\x00-w\x00") {
					seen[p.Name()] = true
				}
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() int {
		close(done)
		<-stopped
		return len(seen)
	}
}

// plannedChanges runs terraform plan and returns the changes it plans
// (address: action, and the change summary when it is not zero), nil for
// an empty plan, and the objects it found changed outside Terraform
// (drift, which need not change the plan).
func (c *terraformCLI) plannedChanges() (changes, drift []string) {
	c.t.Helper()
	out := c.run("plan", "-json", "-input=false", "-lock=false")
	summary := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var m struct {
			Type   string
			Change struct {
				Resource struct{ Addr string }
				Action   string
			}
			Changes    *struct{ Add, Change, Import, Remove int }
			Diagnostic *planDiagnostic
		}
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		switch {
		case m.Type == "planned_change":
			changes = append(changes, m.Change.Resource.Addr+": "+m.Change.Action)
		case m.Type == "resource_drift":
			drift = append(drift, m.Change.Resource.Addr+": "+m.Change.Action)
		case m.Type == "change_summary" && m.Changes != nil:
			summary = true
			if n := *m.Changes; n != (struct{ Add, Change, Import, Remove int }{}) {
				changes = append(changes, fmt.Sprintf("summary %+v", n))
			}
		case m.Type == "diagnostic" && m.Diagnostic != nil && m.Diagnostic.Severity == "error":
			changes = append(changes, "error: "+m.Diagnostic.Summary+": "+m.Diagnostic.Detail)
		}
	}
	if !summary {
		changes = append(changes, "no change summary in the plan's output")
	}
	return changes, drift
}
