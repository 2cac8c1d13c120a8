// Command bench measures Terraform over N namespace test hosts, each with a
// conntrack_host data source and one resource of every type
// (conntrack_limits, conntrack_notrack_rule, conntrack_iptables_config,
// conntrack_module_blacklist, conntrack_firewall_service), against
// Terraform's own floor: the same runs over 6N terraform_data resources
// (DESIGN.md section 6). Per host count it times a plan with nothing in
// state, the apply, and the plan of the converged hosts, and counts SSH
// logins and remote commands. It needs root, like the test hosts it starts.
// `make bench` runs:
//
//	go run ./cmd/bench -provider bin/terraform-provider-conntrack -terraform bin/terraform \
//	    -hosts 10,50 -runs 3 -markdown BENCHMARKS.md -svg docs/benchmarks.svg
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

type config struct {
	provider, terraform string // absolute, symlinks resolved: compared with /proc/PID/exe
	hosts               []int
	runs                int
	hostList            string // as given, for the report
	markdown, svg       string
	keep                bool
}

// phase is one terraform command the benchmark measures, in this order.
type phase struct {
	name  string
	args  []string
	exit  int // expected exit status: with -detailed-exitcode, 2 means changes planned
	walks int // graph walks, each with its own provider process, so its own SSH logins
	// confirms are logins on purpose: a changed NOTRACK rule is confirmed
	// over a new connection (the lock-out protection).
	confirms int
	once     bool // run once per host count: it changes the hosts
}

var phases = []phase{
	{name: "plan fresh", args: []string{"plan", "-detailed-exitcode"}, exit: 2, walks: 1},
	// Without a saved plan, apply walks the graph twice: plan, then apply.
	{name: "apply", args: []string{"apply", "-auto-approve"}, walks: 2, confirms: 1, once: true},
	{name: "plan converged", args: []string{"plan", "-detailed-exitcode"}, exit: 0, walks: 1},
}

// phaseResult is one phase at one host count: medians over the timed runs,
// per-host means and extremes over hosts and runs.
type phaseResult struct {
	Runs                 int
	Wall, Floor          time.Duration // medians
	LoginsMean           float64       // SSH logins per host per run
	LoginsMin, LoginsMax int
	Commands             map[opRPC]float64 // remote commands per host per run
	CommandsMin          int               // fewest remote commands one host saw in one run
	CommandsMax          int               // most remote commands one host saw in one run
	PeakRSSKB            int64             // largest provider VmHWM
	Providers            int               // provider processes terraform started per run
}

// CommandsPerHost is the mean number of remote commands per host per run.
func (p phaseResult) CommandsPerHost() float64 {
	total := 0.0
	for _, c := range p.Commands {
		total += c
	}
	return total
}

type result struct {
	Hosts     int
	Phases    []phaseResult // as in phases
	Handshake time.Duration // one SSH login from Go, the unit of the plan-time target
	// Load averages before the hosts started and when the host count was
	// done: the machine is shared.
	LoadBefore, LoadAfter string
}

func main() {
	var cfg config
	flag.StringVar(&cfg.provider, "provider", "bin/terraform-provider-conntrack", "provider binary built from this module")
	flag.StringVar(&cfg.terraform, "terraform", "bin/terraform", "terraform binary")
	flag.StringVar(&cfg.hostList, "hosts", "10,50", "comma-separated host counts")
	flag.IntVar(&cfg.runs, "runs", 3, "timed runs of each plan, after one untimed warm-up (the apply runs once)")
	flag.StringVar(&cfg.markdown, "markdown", "", "write the report to this markdown file")
	flag.StringVar(&cfg.svg, "svg", "", "write the chart to this SVG file")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the working directories (configurations, states, terraform logs) and say where")
	flag.Parse()
	for _, s := range strings.Split(cfg.hostList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fail(fmt.Errorf("-hosts: bad host count %q", s))
		}
		cfg.hosts = append(cfg.hosts, n)
	}
	if cfg.runs < 1 {
		fail(errors.New("-runs must be at least 1"))
	}
	// Cancelling ctx kills a running terraform and unwinds to the deferred
	// host Close calls, which must run: namespaces outlive their processes.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, cfg)
	stop()
	fail(err)
}

func fail(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config) error {
	for _, p := range []*string{&cfg.provider, &cfg.terraform} {
		abs, err := filepath.Abs(*p)
		if err == nil {
			abs, err = filepath.EvalSymlinks(abs)
		}
		if err != nil {
			return fmt.Errorf("%w (build it first)", err)
		}
		*p = abs
	}
	machine, err := machineInfo(ctx, cfg.terraform)
	if err != nil {
		return err
	}
	var results []result
	for _, n := range cfg.hosts {
		r, err := benchHosts(ctx, cfg, n)
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	printTables(os.Stdout, results)
	if cfg.markdown != "" {
		if err := os.WriteFile(cfg.markdown, []byte(markdown(machine, cfg, results)), 0o644); err != nil {
			return err
		}
	}
	if cfg.svg != "" {
		if err := os.MkdirAll(filepath.Dir(cfg.svg), 0o755); err != nil {
			return err
		}
		return os.WriteFile(cfg.svg, []byte(chart(results)), 0o644)
	}
	return nil
}

// bench is one host count's hosts and working directory.
type bench struct {
	hosts   []*testhost.Host
	addrs   map[string]bool
	dir, rc string
}

// benchHosts starts n hosts, measures every phase against them and removes
// the hosts again, whatever happens.
func benchHosts(ctx context.Context, cfg config, n int) (result, error) {
	r := result{Hosts: n, LoadBefore: loadAverage()}
	fmt.Fprintf(os.Stderr, "bench: %d hosts: starting\n", n)
	hosts, err := startHosts(ctx, n)
	defer func() {
		for _, h := range hosts {
			if err := h.Close(); err != nil {
				fmt.Fprintf(os.Stderr, "bench: remove host %s: %v\n", h.Namespace, err)
			}
		}
	}()
	if err != nil {
		return r, err
	}
	b := bench{hosts: hosts, addrs: map[string]bool{}}
	for _, h := range hosts {
		b.addrs[h.Addr] = true
	}
	if b.dir, err = os.MkdirTemp("", fmt.Sprintf("conntrack-bench-%d-", n)); err != nil {
		return r, err
	}
	if cfg.keep {
		defer fmt.Fprintf(os.Stderr, "bench: %d hosts: kept %s\n", n, b.dir)
	} else {
		defer os.RemoveAll(b.dir)
	}
	if b.rc, err = writeConfigs(b.dir, cfg.provider, hosts); err != nil {
		return r, err
	}
	// Before any terraform run, so that these logins never count against one.
	if r.Handshake, err = handshake(hosts); err != nil {
		return r, err
	}
	for _, p := range phases {
		pr, err := measure(ctx, cfg, b, p)
		if err != nil {
			return r, err
		}
		r.Phases = append(r.Phases, pr)
	}
	r.LoadAfter = loadAverage()
	return r, nil
}

// measure runs one phase in the provider's configuration and in the floor's.
// Their runs alternate so that changes in the machine's load (other tests
// share it) hit both alike.
func measure(ctx context.Context, cfg config, b bench, p phase) (phaseResult, error) {
	runs := cfg.runs
	if p.once {
		runs = 1
	}
	acc := accumulator{addrs: b.addrs, ops: map[opRPC]int{}}
	tf := func(conf string, i int) (runStats, error) {
		r := tfRun{dir: filepath.Join(b.dir, conf), args: p.args, wantExit: p.exit,
			log: filepath.Join(b.dir, "logs", fmt.Sprintf("%s-%s-%d.log", strings.ReplaceAll(p.name, " ", "-"), conf, i))}
		if conf == "main" {
			r.hosts = b.hosts
		}
		return terraform(ctx, cfg, b.rc, r)
	}
	if !p.once { // warm-up: page cache, binaries
		for _, conf := range []string{"main", "floor"} {
			if _, err := tf(conf, 0); err != nil {
				return phaseResult{}, err
			}
		}
	}
	for i := 1; i <= runs; i++ {
		fmt.Fprintf(os.Stderr, "bench: %d hosts: %s %d/%d\n", len(b.hosts), p.name, i, runs)
		s, err := tf("main", i)
		if err == nil && p.once {
			err = checkApplied(ctx, b.hosts)
		}
		if err != nil {
			return phaseResult{}, err
		}
		f, err := tf("floor", i)
		if err != nil {
			return phaseResult{}, err
		}
		if err := acc.add(s, f); err != nil {
			return phaseResult{}, fmt.Errorf("%s: %w", p.name, err)
		}
	}
	return acc.result(), nil
}

// accumulator collects the runs of one phase.
type accumulator struct {
	addrs         map[string]bool // the hosts, by address
	walls, floors []time.Duration
	logins        []int         // per host per run
	commands      []int         // per host per run
	ops           map[opRPC]int // over all hosts and runs
	peakRSSKB     int64
	providers     int
}

// add takes one run of the provider's configuration and one of the floor's.
func (a *accumulator) add(s, floor runStats) error {
	if len(s.commands) == 0 {
		return fmt.Errorf("no %q line in %s: was the provider built with its trace hook, and does TF_LOG_PROVIDER=DEBUG reach it?",
			remoteCommandMsg, s.log)
	}
	perHost := map[string]int{}
	for _, c := range s.commands {
		if !a.addrs[c.host] {
			return fmt.Errorf("remote command %q on %q, not a benchmark host (%s)", c.op, c.host, s.log)
		}
		perHost[c.host]++
		a.ops[c.opRPC]++
	}
	for addr := range a.addrs {
		a.commands = append(a.commands, perHost[addr])
	}
	a.logins = append(a.logins, s.logins...)
	a.walls, a.floors = append(a.walls, s.wall), append(a.floors, floor.wall)
	a.peakRSSKB, a.providers = max(a.peakRSSKB, s.peakRSSKB), max(a.providers, s.providers)
	return nil
}

func (a *accumulator) result() phaseResult {
	hostRuns := float64(len(a.commands)) // hosts x runs
	p := phaseResult{Runs: len(a.walls), Wall: median(a.walls), Floor: median(a.floors),
		LoginsMean: float64(sum(a.logins)) / hostRuns, LoginsMin: slices.Min(a.logins), LoginsMax: slices.Max(a.logins),
		Commands: map[opRPC]float64{}, CommandsMin: slices.Min(a.commands), CommandsMax: slices.Max(a.commands),
		PeakRSSKB: a.peakRSSKB, Providers: a.providers}
	for k, v := range a.ops {
		p.Commands[k] = float64(v) / hostRuns
	}
	return p
}

func sum(ns []int) int {
	t := 0
	for _, n := range ns {
		t += n
	}
	return t
}

// startHosts starts n hosts four at a time: each start is a handful of `ip`
// commands and an sshd, and two cores gain nothing from more. It returns the
// hosts that started even on error, for the caller to close.
func startHosts(ctx context.Context, n int) ([]*testhost.Host, error) {
	type started struct {
		h   *testhost.Host
		err error
	}
	done, slots := make(chan started), make(chan struct{}, 4)
	for i := 0; i < n; i++ {
		go func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			h, err := testhost.Start(ctx, testhost.Options{})
			if err == nil {
				// A Debian-like host (by /etc/os-release): NOTRACK rules persist
				// in iptables-persistent's file. conntrack_iptables_config
				// writes /etc/sysconfig/iptables-config and, like any file
				// write of the provider, fails when the directory is missing.
				_, err = h.Exec(ctx, "mkdir -p /etc/iptables /etc/sysconfig")
			}
			done <- started{h, err}
		}()
	}
	var hosts []*testhost.Host
	var err error
	for i := 0; i < n; i++ {
		s := <-done
		if s.err == nil {
			hosts = append(hosts, s.h)
		} else if err == nil {
			err = s.err
		}
	}
	return hosts, err
}

// logins counts each host's SSH logins so far; none for no hosts (the floor).
func logins(hosts []*testhost.Host) ([]int, error) {
	counts := make([]int, len(hosts))
	for i, h := range hosts {
		n, err := h.Logins()
		if err != nil {
			return nil, fmt.Errorf("host %s: %w", h.Namespace, err)
		}
		counts[i] = n
	}
	return counts, nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return (s[(len(s)-1)/2] + s[len(s)/2]) / 2
}
