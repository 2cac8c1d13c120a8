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
//
// and `make bench-fleet` the fleet sizes and the parallelism sweep:
//
//	-hosts 10,50,200,500 -runs 3,3,1,1 -parallelism 10,30,100 -parallelism-hosts 500
package main

import (
	"context"
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
	runs                []int // timed runs of each plan, per host count
	// parallelism is terraform's -parallelism: the first value at every
	// host count, the others at the host counts in parallelismHosts.
	parallelism      []int
	parallelismHosts []int
	// args are the flags as given, for the report's reproduce line.
	args          string
	markdown, svg string
	keep          bool
	// heapProfile is a directory for the heap profiles of a provider built
	// with -tags memprofile (CONNTRACK_HEAP_PROFILE).
	heapProfile string
}

// phase is one terraform command the benchmark measures, in this order.
type phase struct {
	name  string
	args  []string
	exit  int // expected exit status: with -detailed-exitcode, 2 means changes planned
	walks int // graph walks, each with its own provider process, so its own SSH logins
	// confirms are logins on purpose: the guarded changes of a host (the
	// NOTRACK rule, the lowered timeout) are confirmed together over one new
	// connection (the lock-out protection).
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
	TFCPU, HostCPU       time.Duration     // medians: terraform and its providers, the hosts' sshd and commands
	Providers            int               // provider processes terraform started per run
	Load                 string            // load averages before the phase's first run
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
	Hosts       int
	Parallelism int
	Phases      []phaseResult // as in phases
	Handshake   time.Duration // one SSH login from Go, the unit of the plan-time target
	// Load averages before the hosts started and when the host count was
	// done: the machine is shared.
	LoadBefore, LoadAfter string
}

func main() {
	var cfg config
	var hosts, runs, parallelism, parallelismHosts string
	flag.StringVar(&cfg.provider, "provider", "bin/terraform-provider-conntrack", "provider binary built from this module")
	flag.StringVar(&cfg.terraform, "terraform", "bin/terraform", "terraform binary")
	flag.StringVar(&hosts, "hosts", "10,50", "comma-separated host counts")
	flag.StringVar(&runs, "runs", "3", "timed runs of each plan, one value or one per host count; with more than one, after an untimed warm-up (the apply runs once)")
	flag.StringVar(&parallelism, "parallelism", "10", "terraform -parallelism values: the first at every host count, the others at the -parallelism-hosts counts, each on fresh hosts")
	flag.StringVar(&parallelismHosts, "parallelism-hosts", "", "host counts that run every -parallelism value (default: the largest host count)")
	flag.StringVar(&cfg.markdown, "markdown", "", "write the report to this markdown file (after every host count)")
	flag.StringVar(&cfg.svg, "svg", "", "write the chart to this SVG file")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the working directories (configurations, states, terraform logs) and say where")
	flag.StringVar(&cfg.heapProfile, "heap-profile", "", "directory for the heap profiles of a provider built with -tags memprofile (its forced collections change its RSS)")
	flag.Parse()
	var err error
	if cfg.hosts, err = counts("-hosts", hosts); err != nil {
		fail(err)
	}
	if cfg.runs, err = counts("-runs", runs); err != nil {
		fail(err)
	}
	switch len(cfg.runs) {
	case 1:
		cfg.runs = slices.Repeat(cfg.runs, len(cfg.hosts))
	case len(cfg.hosts):
	default:
		fail(fmt.Errorf("-runs: %d values for %d host counts", len(cfg.runs), len(cfg.hosts)))
	}
	if cfg.parallelism, err = counts("-parallelism", parallelism); err != nil {
		fail(err)
	}
	cfg.parallelismHosts = []int{slices.Max(cfg.hosts)}
	if parallelismHosts != "" {
		if cfg.parallelismHosts, err = counts("-parallelism-hosts", parallelismHosts); err != nil {
			fail(err)
		}
	}
	cfg.args = strings.Join(os.Args[1:], " ")
	// Cancelling ctx kills a running terraform and unwinds to the deferred
	// host Close calls, which must run: namespaces outlive their processes.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, cfg)
	stop()
	fail(err)
}

// counts parses a comma-separated list of positive numbers.
func counts(name, list string) ([]int, error) {
	var ns []int
	for _, s := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s: bad value %q (want positive numbers, comma-separated)", name, s)
		}
		ns = append(ns, n)
	}
	return ns, nil
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
	for i, n := range cfg.hosts {
		for j, par := range cfg.parallelism {
			if j > 0 && !slices.Contains(cfg.parallelismHosts, n) {
				continue
			}
			r, err := benchHosts(ctx, cfg, n, cfg.runs[i], par)
			if err != nil {
				return err
			}
			results = append(results, r)
			// After every host count: a long run that is stopped keeps
			// what it measured.
			if err := report(cfg, machine, results); err != nil {
				return err
			}
		}
	}
	printTables(os.Stdout, mainResults(cfg, results))
	printParallelism(os.Stdout, cfg, results)
	return nil
}

// report writes the markdown report and the chart.
func report(cfg config, machine string, results []result) error {
	if cfg.markdown != "" {
		old, err := os.ReadFile(cfg.markdown)
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		md := markdown(machine, cfg, results) + keptNotes(string(old))
		if err := os.WriteFile(cfg.markdown, []byte(md), 0o644); err != nil {
			return err
		}
	}
	if cfg.svg != "" {
		if err := os.MkdirAll(filepath.Dir(cfg.svg), 0o755); err != nil {
			return err
		}
		return os.WriteFile(cfg.svg, []byte(chart(mainResults(cfg, results))), 0o644)
	}
	return nil
}

// mainResults are the results at the first -parallelism value: the tables,
// the chart and the targets.
func mainResults(cfg config, results []result) []result {
	var main []result
	for _, r := range results {
		if r.Parallelism == cfg.parallelism[0] {
			main = append(main, r)
		}
	}
	return main
}

// bench is one host count's hosts and working directory.
type bench struct {
	hosts       []*testhost.Host
	addrs       map[string]bool
	dir, rc     string
	runs        int // timed runs of each plan
	parallelism int
}

// benchHosts starts n hosts, measures every phase against them and removes
// the hosts again, whatever happens.
func benchHosts(ctx context.Context, cfg config, n, runs, parallelism int) (result, error) {
	r := result{Hosts: n, Parallelism: parallelism, LoadBefore: loadAverage()}
	fmt.Fprintf(os.Stderr, "bench: %d hosts, parallelism %d: starting\n", n, parallelism)
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
	b := bench{hosts: hosts, addrs: map[string]bool{}, runs: runs, parallelism: parallelism}
	for _, h := range hosts {
		b.addrs[h.Addr] = true
	}
	if b.dir, err = os.MkdirTemp("", fmt.Sprintf("conntrack-bench-%d-p%d-", n, parallelism)); err != nil {
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
	runs := b.runs
	if p.once {
		runs = 1
	}
	acc := accumulator{addrs: b.addrs, ops: map[opRPC]int{}, load: loadAverage()}
	args := append(slices.Clone(p.args), fmt.Sprintf("-parallelism=%d", b.parallelism))
	tf := func(conf string, i int) (runStats, error) {
		r := tfRun{dir: filepath.Join(b.dir, conf), args: args, wantExit: p.exit,
			log: filepath.Join(b.dir, "logs", fmt.Sprintf("%s-%s-%d.log", strings.ReplaceAll(p.name, " ", "-"), conf, i))}
		if conf == "main" {
			r.hosts = b.hosts
			if cfg.heapProfile != "" {
				r.heapDir = filepath.Join(cfg.heapProfile, fmt.Sprintf("%d-p%d-%s-%d", len(b.hosts), b.parallelism, strings.ReplaceAll(p.name, " ", "-"), i))
			}
		}
		return terraform(ctx, cfg, b.rc, r)
	}
	// Warm-up (page cache, binaries) where the plans are timed more than
	// once; at host counts timed once a warm-up would double the cost.
	if !p.once && runs > 1 {
		for _, conf := range []string{"main", "floor"} {
			if _, err := tf(conf, 0); err != nil {
				return phaseResult{}, err
			}
		}
	}
	for i := 1; i <= runs; i++ {
		fmt.Fprintf(os.Stderr, "bench: %d hosts, parallelism %d: %s %d/%d (load %s)\n", len(b.hosts), b.parallelism, p.name, i, runs, loadAverage())
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
	addrs          map[string]bool // the hosts, by address
	walls, floors  []time.Duration
	tfCPU, hostCPU []time.Duration
	logins         []int         // per host per run
	commands       []int         // per host per run
	ops            map[opRPC]int // over all hosts and runs
	peakRSSKB      int64
	providers      int
	load           string // load averages before the phase's first run
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
	a.tfCPU, a.hostCPU = append(a.tfCPU, s.tfCPU), append(a.hostCPU, s.hostCPU)
	a.peakRSSKB, a.providers = max(a.peakRSSKB, s.peakRSSKB), max(a.providers, s.providers)
	return nil
}

func (a *accumulator) result() phaseResult {
	hostRuns := float64(len(a.commands)) // hosts x runs
	p := phaseResult{Runs: len(a.walls), Wall: median(a.walls), Floor: median(a.floors),
		LoginsMean: float64(sum(a.logins)) / hostRuns, LoginsMin: slices.Min(a.logins), LoginsMax: slices.Max(a.logins),
		Commands: map[opRPC]float64{}, CommandsMin: slices.Min(a.commands), CommandsMax: slices.Max(a.commands),
		PeakRSSKB: a.peakRSSKB, Providers: a.providers, Load: a.load, TFCPU: median(a.tfCPU), HostCPU: median(a.hostCPU)}
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
