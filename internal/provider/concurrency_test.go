package provider

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

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
	writeHostFile(t, h, "/etc/sysctl.conf", foreign)
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
	lost := 0
	for round := 1; round <= rounds; round++ {
		value := 100 + round
		var wg sync.WaitGroup
		errs := make([]string, len(states))
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
		for i, e := range errs {
			if e != "" {
				t.Fatalf("round %d: state %s failed:\n%s", round, states[i].name, e)
			}
		}
		sysctl := hostFile(t, h, "/etc/sysctl.conf")
		file := hostFile(t, h, "/etc/iptables/rules.v4")
		raw := liveRaw(t, h)
		if !strings.HasPrefix(sysctl, foreign) {
			t.Errorf("round %d: foreign sysctl lines lost:\n%s", round, sysctl)
		}
		if withoutOurs(file) != rules {
			t.Errorf("round %d: foreign bytes of the rules file changed:\n%s", round, file)
		}
		for _, s := range states {
			key := "net.netfilter.nf_conntrack_" + s.timeout
			if got, ok := lastValue(sysctl, key); !ok || got != strconv.Itoa(value) {
				lost++
				t.Errorf("round %d: state %s's %s = %q (present %t) in /etc/sysctl.conf, want %d:\n%s", round, s.name, key, got, ok, value, sysctl)
			}
			if got := hostInt(t, h, "cat /proc/sys/net/netfilter/nf_conntrack_"+s.timeout); got != int64(value) {
				lost++
				t.Errorf("round %d: running %s = %d, want %d", round, key, got, value)
			}
			comment := fmt.Sprintf("state %s round %d", s.name, value)
			for _, where := range []struct{ name, text string }{{"live", raw}, {"rules file", file}} {
				if n := strings.Count(where.text, comment+`"`); n != 2 {
					lost++
					t.Errorf("round %d: state %s's rule (both chains) found %d times in the %s:\n%s", round, s.name, n, where.name, where.text)
				}
			}
		}
	}
	t.Logf("concurrent runs: %d rounds of 2 states applying in parallel to one host; %d lost updates", rounds, lost)
	for _, s := range states {
		for _, d := range s.cli.diagnostics("destroy", "-auto-approve") {
			if d.Severity == "error" {
				t.Errorf("destroy %s: %s: %s", s.name, d.Summary, d.Detail)
			}
		}
	}
	if got := hostFile(t, h, "/etc/sysctl.conf"); got != foreign {
		t.Errorf("after destroy /etc/sysctl.conf is %q", got)
	}
}
