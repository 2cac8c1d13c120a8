package provider

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// Config-sequence tests: random but valid sequences of configurations of
// one resource, applied step by step with the real Terraform CLI against a
// namespace host. After every step the apply must have been consistent with
// its plan, the host must hold what the configuration declares (a model of
// the resource says what that is), every foreign byte must be kept, and the
// next plan must be empty (terraform-plugin-testing checks that itself).
//
// CONNTRACK_SEQUENCES sets how many sequences run per resource (default 1,
// as in make test; `make sweeps` runs 20) and CONNTRACK_SEQUENCE_SEED
// replays a run; the seed and every step's configuration are logged, so a
// failure can be reproduced.

// sequenceRun returns a seeded source and the number of sequences to run.
func sequenceRun(t *testing.T) (*rand.Rand, int) {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CONNTRACK_SEQUENCE_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CONNTRACK_SEQUENCE_SEED: %v", err)
		}
		seed = n
	}
	count := 1
	if s := os.Getenv("CONNTRACK_SEQUENCES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("CONNTRACK_SEQUENCES: %q is not a positive number", s)
		}
		count = n
	}
	t.Logf("sequence seed %d (replay with CONNTRACK_SEQUENCE_SEED=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed>>1|1)), count
}

// limitsStep is one configuration of conntrack_limits in a sequence.
type limitsStep struct {
	applyLive  *bool            // nil: the default (true)
	sysctlFile string           // "": the default
	timeouts   map[string]int64 // named tcp_timeout_* attributes set
	sysctls    map[string]int64 // the sysctls map (nil: unset)
	max        int64            // 0: unset (only with apply_live = false: global)
	buckets    int64            // 0: unset (likewise)
	viaData    string           // a setting whose value comes from another resource
}

// sequenceOtherFile is the sysctl_file a step may declare instead of the default.
const sequenceOtherFile = "/etc/sysctl.conf"

func (s limitsStep) live() bool { return s.applyLive == nil || *s.applyLive }

func (s limitsStep) file() string {
	if s.sysctlFile == "" {
		return defaultSysctlFile
	}
	return s.sysctlFile
}

// declared is every sysctl the step manages, by short name.
func (s limitsStep) declared() map[string]int64 {
	out := map[string]int64{}
	for k, v := range s.timeouts {
		out[k] = v
	}
	for k, v := range s.sysctls {
		out[k] = v
	}
	if s.max != 0 {
		out["max"] = s.max
	}
	return out
}

func randomLimitsStep(r *rand.Rand) limitsStep {
	values := []int64{30, 60, 120, 300, 3600}
	pick := func() int64 { return values[r.IntN(len(values))] }
	s := limitsStep{timeouts: map[string]int64{}}
	switch r.IntN(3) {
	case 0:
		f := false
		s.applyLive = &f
	case 1:
		t := true
		s.applyLive = &t
	}
	if r.IntN(3) == 0 {
		s.sysctlFile = sequenceOtherFile
	}
	for _, name := range []string{"tcp_timeout_established", "tcp_timeout_close_wait", "tcp_timeout_fin_wait", "tcp_timeout_time_wait"} {
		if r.IntN(2) == 0 {
			s.timeouts[name] = pick()
		}
	}
	if r.IntN(2) == 0 {
		s.sysctls = map[string]int64{}
		for _, name := range []string{"udp_timeout", "generic_timeout", "icmp_timeout"} {
			if r.IntN(2) == 0 {
				s.sysctls[name] = pick()
			}
		}
	}
	if !s.live() && r.IntN(2) == 0 {
		s.max = 200000 + int64(r.IntN(4))*1000
		if r.IntN(2) == 0 {
			s.buckets = s.max // the kernel's own pairing since 5.15
		}
	}
	if names := slices.Sorted(maps.Keys(s.timeouts)); len(names) > 0 && r.IntN(3) == 0 {
		s.viaData = names[r.IntN(len(names))]
	}
	return s
}

func (s limitsStep) hcl() string {
	var b strings.Builder
	if s.applyLive != nil {
		fmt.Fprintf(&b, "  apply_live = %t\n", *s.applyLive)
	}
	if s.sysctlFile != "" {
		fmt.Fprintf(&b, "  sysctl_file = %q\n", s.sysctlFile)
	}
	for _, name := range slices.Sorted(maps.Keys(s.timeouts)) {
		if name == s.viaData {
			fmt.Fprintf(&b, "  %s = terraform_data.v.output\n", name)
			continue
		}
		fmt.Fprintf(&b, "  %s = %d\n", name, s.timeouts[name])
	}
	if s.sysctls != nil {
		var kv []string
		for _, name := range slices.Sorted(maps.Keys(s.sysctls)) {
			kv = append(kv, fmt.Sprintf("%s = %d", name, s.sysctls[name]))
		}
		fmt.Fprintf(&b, "  sysctls = { %s }\n", strings.Join(kv, ", "))
	}
	if s.max != 0 {
		fmt.Fprintf(&b, "  max = %d\n", s.max)
	}
	if s.buckets != 0 {
		fmt.Fprintf(&b, "  buckets = %d\n", s.buckets)
	}
	return b.String()
}

// data is the other resource a value may come from: unknown while planning
// a create or a change of its input.
func (s limitsStep) data() string {
	if s.viaData == "" {
		return ""
	}
	return fmt.Sprintf("\nresource \"terraform_data\" \"v\" {\n  input = %d\n}\n", s.timeouts[s.viaData])
}

// lastValue is the value the last assignment of key in content sets, as
// sysctl applies the file.
func lastValue(content, key string) (string, bool) {
	value, found := "", false
	for _, line := range strings.Split(content, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if ok && strings.TrimSpace(k) == key {
			value, found = strings.TrimSpace(v), true
		}
	}
	return value, found
}

// check compares the host with the model of the step.
func (s limitsStep) check(t *testing.T, h *testhost.Host, foreign string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		files := map[string]string{defaultSysctlFile: "", sequenceOtherFile: ""}
		for f := range files {
			files[f] = hostValue(t, h, "cat "+f+" 2>/dev/null || true")
		}
		if !strings.HasPrefix(files[sequenceOtherFile], strings.TrimSpace(foreign)) {
			return fmt.Errorf("foreign lines of %s were not kept:\n%s", sequenceOtherFile, files[sequenceOtherFile])
		}
		declared := s.declared()
		for _, short := range []string{"max", "tcp_timeout_established", "tcp_timeout_close_wait", "tcp_timeout_fin_wait",
			"tcp_timeout_time_wait", "udp_timeout", "generic_timeout", "icmp_timeout"} {
			key := "net.netfilter.nf_conntrack_" + short
			want, managed := declared[short]
			for f, content := range files {
				got, ok := lastValue(content, key)
				switch {
				case managed && f == s.file() && (!ok || got != strconv.FormatInt(want, 10)):
					return fmt.Errorf("%s: %s = %q (present %t), declared %d", f, key, got, ok, want)
				case (!managed || f != s.file()) && ok:
					return fmt.Errorf("%s still sets %s = %s, which is not declared there", f, key, got)
				}
			}
			if managed && s.live() && short != "max" {
				if got := hostInt(t, h, "cat /proc/sys/net/netfilter/nf_conntrack_"+short); got != want {
					return fmt.Errorf("running %s = %d, declared %d with apply_live", key, got, want)
				}
			}
		}
		modprobe := hostValue(t, h, "cat /etc/modprobe.d/iptables.conf 2>/dev/null || true")
		if has := strings.Contains(modprobe, "hashsize="); has != (s.buckets != 0) ||
			(s.buckets != 0 && !strings.Contains(modprobe, fmt.Sprintf("hashsize=%d", s.buckets))) {
			return fmt.Errorf("modprobe file %q, declared buckets %d", modprobe, s.buckets)
		}
		return nil
	}
}

func TestAccSequence_limits(t *testing.T) {
	t.Parallel()
	r, count := sequenceRun(t)
	for i := range count {
		t.Run(fmt.Sprintf("sequence%d", i), func(t *testing.T) {
			h := testhost.New(t, testhost.Options{})
			foreign := "# kept by hand\nkernel.sysrq = 0\nvm.swappiness=10\n"
			writeHostFile(t, h, "/etc/sysctl.conf", foreign)
			var steps []resource.TestStep
			for n := range 6 {
				s := randomLimitsStep(r)
				config := limitsConfig(t, h, s.hcl()) + s.data()
				t.Logf("step %d:\n%s", n+1, s.hcl())
				steps = append(steps, resource.TestStep{Config: config, Check: s.check(t, h, foreign)})
			}
			resource.Test(t, resource.TestCase{
				ProtoV6ProviderFactories: protoV6ProviderFactories,
				Steps:                    steps,
				CheckDestroy: func(*terraform.State) error {
					if got := hostFile(t, h, "/etc/sysctl.conf"); got != foreign {
						return fmt.Errorf("destroy left /etc/sysctl.conf as %q", got)
					}
					return nil
				},
			})
		})
	}
}
