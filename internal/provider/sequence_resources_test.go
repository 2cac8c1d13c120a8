package provider

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// Config-sequence generators and host models of the other resources (see
// sequence_test.go for the harness).

// hclList is strings as an HCL list.
func hclList(values []string) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = fmt.Sprintf("%q", v)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

// optionalBool is unset (nil), true or false with equal chance.
func optionalBool(r *rand.Rand) *bool {
	switch r.IntN(3) {
	case 0:
		return nil
	case 1:
		v := true
		return &v
	}
	v := false
	return &v
}

// runSequences runs count sequences of steps built by step on a fresh
// namespace host each, prepared by setup.
func runSequences(t *testing.T, setup func(t *testing.T, h *testhost.Host) (steps func(r *rand.Rand) []resource.TestStep, destroyed resource.TestCheckFunc)) {
	r, count := sequenceRun(t)
	for i := range count {
		t.Run(fmt.Sprintf("sequence%d", i), func(t *testing.T) {
			h := testhost.New(t, testhost.Options{})
			steps, destroyed := setup(t, h)
			resource.Test(t, resource.TestCase{
				ProtoV6ProviderFactories: protoV6ProviderFactories,
				Steps:                    steps(r),
				CheckDestroy:             destroyed,
			})
		})
	}
}

// conntrack_iptables_config: keys set, changed and released; a released
// key stays as it is, and destroy removes only the keys the resource added
// and still manages.
func TestAccSequence_iptablesConfig(t *testing.T) {
	t.Parallel()
	stock, err := os.ReadFile("../conffile/shellvars/testdata/rhel7-stock-iptables-config")
	if err != nil {
		t.Fatal(err)
	}
	stringValues := map[string][]string{
		"modules":          {"", "nf_conntrack_ftp", "nf_nat_ftp nf_conntrack_ftp"},
		"sysctl_load_list": {"", ".nf_conntrack", ".nf_conntrack .nf_conntrack_ipv4"},
	}
	boolNames := []string{"modules_unload", "save_on_stop", "save_counter"}
	keyOf := func(name string) string { return "IPTABLES_" + settingKey(name) }
	// others drops the lines of the keys the sequence manages.
	others := func(content string) string {
		var kept []string
		for _, l := range strings.SplitAfter(content, "\n") {
			owned := false
			for _, name := range append(slices.Sorted(maps.Keys(stringValues)), boolNames...) {
				owned = owned || strings.HasPrefix(l, keyOf(name)+"=")
			}
			if !owned {
				kept = append(kept, l)
			}
		}
		return strings.Join(kept, "")
	}
	runSequences(t, func(t *testing.T, h *testhost.Host) (func(*rand.Rand) []resource.TestStep, resource.TestCheckFunc) {
		hostValue(t, h, "mkdir -p /etc/sysconfig")
		writeHostFile(t, h, "/etc/sysconfig/iptables-config", string(stock))
		// The model: each owned key's value in the file (absent: not in the
		// map), and the keys the resource added and still manages.
		file := map[string]string{"modules": "", "save_on_stop": "no", "save_counter": "no"}
		added := map[string]bool{}
		check := func(want map[string]string) resource.TestCheckFunc {
			return func(*terraform.State) error {
				content := hostFile(t, h, "/etc/sysconfig/iptables-config")
				if others(content) != others(string(stock)) {
					return fmt.Errorf("foreign lines changed:\n%s", content)
				}
				for _, name := range append(slices.Sorted(maps.Keys(stringValues)), boolNames...) {
					v, present := want[name]
					lines := strings.Count("\n"+content, "\n"+keyOf(name)+"=")
					switch {
					case present && (lines != 1 || !strings.Contains(content, fmt.Sprintf("%s=%q\n", keyOf(name), v))):
						return fmt.Errorf("%s: want one line with %q:\n%s", keyOf(name), v, content)
					case !present && lines != 0:
						return fmt.Errorf("%s should be absent:\n%s", keyOf(name), content)
					}
				}
				return nil
			}
		}
		steps := func(r *rand.Rand) []resource.TestStep {
			var out []resource.TestStep
			var prev map[string]bool
			for n := range 6 {
				declared, body := map[string]string{}, ""
				for _, name := range slices.Sorted(maps.Keys(stringValues)) {
					if r.IntN(2) == 0 {
						declared[name] = stringValues[name][r.IntN(3)]
						body += fmt.Sprintf("  %s = %q\n", name, declared[name])
					}
				}
				for _, name := range boolNames {
					if b := optionalBool(r); b != nil {
						declared[name] = yesNo(*b)
						body += fmt.Sprintf("  %s = %t\n", name, *b)
					}
				}
				for name := range prev {
					if _, still := declared[name]; !still {
						delete(added, name)
					}
				}
				prev = map[string]bool{}
				for name, v := range declared {
					if _, present := file[name]; !present && !added[name] {
						added[name] = true
					}
					file[name] = v
					prev[name] = true
				}
				t.Logf("step %d:\n%s", n+1, body)
				out = append(out, resource.TestStep{Config: iptablesConfigConfig(t, h, body), Check: check(maps.Clone(file))})
			}
			return out
		}
		destroyed := func(s *terraform.State) error {
			for name := range added {
				delete(file, name)
			}
			return check(file)(s)
		}
		return steps, destroyed
	})
}

// conntrack_module_blacklist on a namespace host: the file only (the
// machine's own modules are never unloaded here).
func TestAccSequence_moduleBlacklist(t *testing.T) {
	t.Parallel()
	foreign, err := os.ReadFile("../conffile/modprobe/testdata/ubuntu-blacklist-rare-network.conf-alias-off")
	if err != nil {
		t.Fatal(err)
	}
	runSequences(t, func(t *testing.T, h *testhost.Host) (func(*rand.Rand) []resource.TestStep, resource.TestCheckFunc) {
		writeHostFile(t, h, "/etc/modprobe.d/blacklist.conf", string(foreign))
		// Names no kernel has: the lines are what is under test, and no
		// module of this machine's kernel is touched.
		candidates := []string{"ctseq_alpha", "ctseq_beta", "ctseq_gamma", "ctseq_delta"}
		ours := func(l string) bool {
			for _, m := range candidates {
				if l == "blacklist "+m+"\n" || l == "install "+m+" /bin/false\n" {
					return true
				}
			}
			return false
		}
		check := func(listed []string, disable bool) resource.TestCheckFunc {
			return func(*terraform.State) error {
				content := hostFile(t, h, "/etc/modprobe.d/blacklist.conf")
				kept := slices.DeleteFunc(strings.SplitAfter(content, "\n"), ours)
				if strings.Join(kept, "") != string(foreign) {
					return fmt.Errorf("foreign bytes changed:\n%s", content)
				}
				for _, m := range candidates {
					on := slices.Contains(listed, m)
					if has := strings.Contains(content, "\nblacklist "+m+"\n"); has != on {
						return fmt.Errorf("blacklist %s: %t, listed %t", m, has, on)
					}
					if has := strings.Contains(content, "\ninstall "+m+" /bin/false\n"); has != (on && disable) {
						return fmt.Errorf("install %s: %t, listed %t, disable %t", m, has, on, disable)
					}
				}
				return nil
			}
		}
		steps := func(r *rand.Rand) []resource.TestStep {
			var out []resource.TestStep
			for n := range 6 {
				var listed []string
				for _, m := range candidates {
					if r.IntN(2) == 0 {
						listed = append(listed, m)
					}
				}
				if len(listed) == 0 {
					listed = candidates[:1]
				}
				body := fmt.Sprintf("  modules = %s\n", hclList(listed))
				disable := optionalBool(r)
				if disable != nil {
					body += fmt.Sprintf("  disable = %t\n", *disable)
				}
				t.Logf("step %d:\n%s", n+1, body)
				out = append(out, resource.TestStep{Config: blacklistConfig(t, h, body), Check: check(listed, disable == nil || *disable)})
			}
			return out
		}
		return steps, expectFile(h, "/etc/modprobe.d/blacklist.conf", string(foreign))
	})
}

// conntrack_notrack_rule: one rule whose chains, target, comment and
// untracked-accept rule change; live ruleset and rules file follow, and
// every foreign byte of a real-world rules file stays.
func TestAccSequence_notrackRule(t *testing.T) {
	t.Parallel()
	runSequences(t, func(t *testing.T, h *testhost.Host) (func(*rand.Rand) []resource.TestStep, resource.TestCheckFunc) {
		original := realRules(t)
		hostValue(t, h, "mkdir -p /etc/iptables")
		writeHostFile(t, h, "/etc/iptables/rules.v4", original)
		check := func(chains []string, comment string, accept bool) resource.TestCheckFunc {
			return func(*terraform.State) error {
				raw := liveRaw(t, h)
				file := hostFile(t, h, "/etc/iptables/rules.v4")
				owned := func(text, chain string) int {
					n := 0
					for _, l := range strings.Split(text, "\n") {
						if strings.HasPrefix(l, "-A "+chain+" ") && strings.Contains(l, "conntrack-tf:") && strings.Contains(l, "5353") {
							n++
						}
					}
					return n
				}
				for _, chain := range []string{"PREROUTING", "OUTPUT"} {
					want := 0
					if slices.Contains(chains, chain) {
						want = 1
					}
					if got := owned(raw, chain); got != want {
						return fmt.Errorf("%d owned rules live in %s, want %d:\n%s", got, chain, want, raw)
					}
					if got := owned(file, chain); got != want {
						return fmt.Errorf("%d owned rules in %s of the file, want %d:\n%s", got, chain, want, file)
					}
				}
				if got := strings.Count(raw, "conntrack-tf:"); got != len(chains) {
					return fmt.Errorf("%d owned raw rules live, want %d:\n%s", got, len(chains), raw)
				}
				if comment != "" && !strings.Contains(raw, " "+comment+"\"") {
					return fmt.Errorf("comment %q not live:\n%s", comment, raw)
				}
				filter := hostValue(t, h, "iptables-save -t filter")
				if has := strings.Contains(filter, "UNTRACKED") && strings.Contains(filter, "conntrack-tf:"); has != accept {
					return fmt.Errorf("untracked accept rule live: %t, want %t:\n%s", has, accept, filter)
				}
				if withoutOurs(file) != original {
					return fmt.Errorf("foreign bytes of the rules file changed:\n%s", file)
				}
				return nil
			}
		}
		steps := func(r *rand.Rand) []resource.TestStep {
			var out []resource.TestStep
			chainSets := [][]string{{"PREROUTING"}, {"OUTPUT"}, {"OUTPUT", "PREROUTING"}, nil}
			for n := range 6 {
				body := "  protocol = \"udp\"\n  port = \"5353\"\n"
				chains := chainSets[r.IntN(len(chainSets))]
				if chains != nil {
					body += fmt.Sprintf("  chains = %s\n", hclList(chains))
				} else {
					chains = []string{"OUTPUT", "PREROUTING"}
				}
				if r.IntN(2) == 0 {
					body += fmt.Sprintf("  target = %q\n", []string{"CT", "NOTRACK"}[r.IntN(2)])
				}
				comment := []string{"", "mdns", "mdns cache"}[r.IntN(3)]
				if comment != "" {
					body += fmt.Sprintf("  comment = %q\n", comment)
				}
				accept := optionalBool(r)
				if accept != nil {
					body += fmt.Sprintf("  ensure_untracked_accept = %t\n", *accept)
				}
				t.Logf("step %d:\n%s", n+1, body)
				out = append(out, resource.TestStep{Config: notrackConfig(t, h, body), Check: check(chains, comment, accept != nil && *accept)})
			}
			return out
		}
		destroyed := func(*terraform.State) error {
			if got := strings.Count(liveRaw(t, h)+hostValue(t, h, "iptables-save -t filter")+hostFile(t, h, "/etc/iptables/rules.v4"), "conntrack-tf:"); got != 0 {
				return fmt.Errorf("%d owned rules left after destroy", got)
			}
			return nil
		}
		return steps, destroyed
	})
}

// conntrack_firewall_service on a SysV namespace host: enabled and running
// set, changed and released (unmanaged: nothing changes).
func TestAccSequence_firewallService(t *testing.T) {
	t.Parallel()
	runSequences(t, func(t *testing.T, h *testhost.Host) (func(*rand.Rand) []resource.TestStep, resource.TestCheckFunc) {
		hostValue(t, h, testhost.IptablesServicesScript(false, serviceRules4, serviceRules6))
		hostValue(t, h, "service iptables start && service ip6tables start")
		state := func(svc string) (enabled, running bool) {
			got := hostValue(t, h, fmt.Sprintf(`e=no; r=no
for l in /etc/rc[2345].d/S??%[1]s; do [ -e "$l" ] && e=yes; done
[ -e /var/lock/subsys/%[1]s ] && r=yes
echo "$e $r"`, svc))
			return strings.HasPrefix(got, "yes"), strings.HasSuffix(got, "yes")
		}
		enabled, running := state("iptables")
		if e6, r6 := state("ip6tables"); e6 != enabled || r6 != running {
			t.Fatalf("the two services start in different states: iptables %t/%t, ip6tables %t/%t", enabled, running, e6, r6)
		}
		steps := func(r *rand.Rand) []resource.TestStep {
			var out []resource.TestStep
			for n := range 6 {
				body := ""
				if b := optionalBool(r); b != nil {
					enabled = *b
					body += fmt.Sprintf("  enabled = %t\n", *b)
				}
				if b := optionalBool(r); b != nil {
					running = *b
					body += fmt.Sprintf("  running = %t\n", *b)
				}
				t.Logf("step %d:\n%s", n+1, body)
				out = append(out, resource.TestStep{Config: firewallServiceConfig(t, h, body), Check: resource.ComposeTestCheckFunc(
					expectService(t, h, "iptables", enabled, running), expectService(t, h, "ip6tables", enabled, running))})
			}
			return out
		}
		// Destroy changes nothing: the services stay as the last step left them.
		destroyed := func(s *terraform.State) error {
			return resource.ComposeTestCheckFunc(expectService(t, h, "iptables", enabled, running), expectService(t, h, "ip6tables", enabled, running))(s)
		}
		return steps, destroyed
	})
}
