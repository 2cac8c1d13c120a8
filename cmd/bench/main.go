// Command bench measures `terraform plan` of conntrack_host data sources over
// N namespace test hosts against Terraform's own floor, the same plan over N
// terraform_data resources (DESIGN.md section 6). It needs root, like the
// test hosts it starts. `make bench` runs:
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
}

// result is one host count: medians over the timed runs, worst cases otherwise.
type result struct {
	Hosts       int
	Plan, Floor time.Duration
	LoginsMean  float64       // SSH logins per host per plan, over all hosts and runs
	LoginsMax   int           // most logins one host saw in one plan
	PeakRSSKB   int64         // largest provider VmHWM
	Providers   int           // provider processes terraform started per plan
	Handshake   time.Duration // one SSH login from Go, the unit of the plan-time target
}

func main() {
	var cfg config
	flag.StringVar(&cfg.provider, "provider", "bin/terraform-provider-conntrack", "provider binary built from this module")
	flag.StringVar(&cfg.terraform, "terraform", "bin/terraform", "terraform binary")
	flag.StringVar(&cfg.hostList, "hosts", "10,50", "comma-separated host counts")
	flag.IntVar(&cfg.runs, "runs", 3, "timed runs per configuration, after one untimed warm-up")
	flag.StringVar(&cfg.markdown, "markdown", "", "write the report to this markdown file")
	flag.StringVar(&cfg.svg, "svg", "", "write the chart to this SVG file")
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
	printTable(os.Stdout, results)
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

// benchHosts starts n hosts, plans both configurations against them and
// removes the hosts again, whatever happens.
func benchHosts(ctx context.Context, cfg config, n int) (result, error) {
	r := result{Hosts: n}
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
	dir, err := os.MkdirTemp("", "conntrack-bench-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	rc, err := writeConfigs(dir, cfg.provider, hosts)
	if err != nil {
		return r, err
	}
	// Before the warm-up, so that these logins never count against a plan.
	if r.Handshake, err = handshake(hosts); err != nil {
		return r, err
	}
	main, floor := filepath.Join(dir, "main"), filepath.Join(dir, "floor")
	for _, d := range []string{main, floor} { // warm-up: page cache, binaries
		if _, err := plan(ctx, cfg, d, rc); err != nil {
			return r, err
		}
	}
	var plans, floors []time.Duration
	total := 0
	// Provider and floor runs alternate so that changes in the machine's load
	// (other tests share it) hit both alike.
	for i := 0; i < cfg.runs; i++ {
		fmt.Fprintf(os.Stderr, "bench: %d hosts: run %d/%d\n", n, i+1, cfg.runs)
		before, err := logins(hosts)
		if err != nil {
			return r, err
		}
		s, err := plan(ctx, cfg, main, rc)
		if err != nil {
			return r, err
		}
		after, err := logins(hosts)
		if err != nil {
			return r, err
		}
		for j := range hosts {
			total += after[j] - before[j]
			r.LoginsMax = max(r.LoginsMax, after[j]-before[j])
		}
		plans = append(plans, s.wall)
		r.PeakRSSKB, r.Providers = max(r.PeakRSSKB, s.peakRSSKB), max(r.Providers, s.providers)
		f, err := plan(ctx, cfg, floor, rc)
		if err != nil {
			return r, err
		}
		floors = append(floors, f.wall)
	}
	r.Plan, r.Floor = median(plans), median(floors)
	r.LoginsMean = float64(total) / float64(n*cfg.runs)
	return r, nil
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
