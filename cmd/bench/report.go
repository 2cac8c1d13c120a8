package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
func ms(d time.Duration) string   { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
func mb(kb int64) string          { return fmt.Sprintf("%.1f", float64(kb)/1024) }

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// phaseIndex is the position of a phase in phases and in result.Phases.
func phaseIndex(name string) int {
	return slices.IndexFunc(phases, func(p phase) bool { return p.name == name })
}

// perHost is the converged plan's remote commands per host: it reads
// every data source and every resource once, all from one read of the host.
func perHost(r result) float64 {
	return r.Phases[phaseIndex("plan converged")].CommandsPerHost()
}

// printTables writes the results as markdown tables, which read as well in
// a terminal as in BENCHMARKS.md, plus what explains them.
func printTables(w io.Writer, results []result) {
	fmt.Fprintln(w, "| hosts | phase | wall time (median) | floor (terraform_data) | overhead vs floor | SSH logins per host: mean / max (walks) | remote commands per host: mean (min-max) | CPU: terraform and provider / hosts | provider peak RSS MB | load average before |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		for i, p := range r.Phases {
			fmt.Fprintf(w, "| %d | %s (%s) | %s | %s | %+.2f s (%.1fx) | %.2f / %d (%d) | %.2f (%d-%d) | %.1f / %.1f s | %s | %s |\n",
				r.Hosts, phases[i].name, plural(p.Runs, "run"), secs(p.Wall), secs(p.Floor), (p.Wall - p.Floor).Seconds(),
				p.Wall.Seconds()/p.Floor.Seconds(), p.LoginsMean, p.LoginsMax, phases[i].walks,
				p.CommandsPerHost(), p.CommandsMin, p.CommandsMax, p.TFCPU.Seconds(), p.HostCPU.Seconds(), mb(p.PeakRSSKB), p.Load)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Remote commands per host, by command (the provider's `op`) and by the provider RPC that ran it (`tf_rpc`):")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "| hosts | remote command | RPC | %s |\n", strings.Join(phaseNames(), " | "))
	fmt.Fprintf(w, "|---:|---|---|%s\n", strings.Repeat("---:|", len(phases)))
	// Host counts with the same counts share their rows.
	var hosts []string
	for i, r := range results {
		hosts = append(hosts, fmt.Sprint(r.Hosts))
		rows := opRows(r)
		if i+1 < len(results) && slices.Equal(rows, opRows(results[i+1])) {
			continue
		}
		for _, row := range rows {
			fmt.Fprintf(w, "| %s | %s\n", strings.Join(hosts, ", "), row)
		}
		hosts = nil
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "A plan is one walk. `apply` without a saved plan is two walks, each in a new provider process (so with new "+
		"connections and an empty read cache): the plan walk, then the apply walk, which plans every resource again "+
		"(PlanResourceChange) before applying it (ApplyResourceChange).")
	fmt.Fprintln(w)
	for _, r := range results {
		fmt.Fprintf(w, "%d hosts: **%.2f remote commands per host** in the converged plan (%d reads per host: "+
			"the data source and one resource of each type, all from one read of the host). One SSH login from Go takes %s. Terraform started the provider %s times "+
			"in %s. Load average %s before the hosts started, %s when this host count was done (the benchmark's own "+
			"sshd and shells included).\n\n",
			r.Hosts, perHost(r), resourcesPerHost, ms(r.Handshake), providerStarts(r), strings.Join(phaseNames(), ", "), r.LoadBefore, r.LoadAfter)
	}
}

// printParallelism writes the host counts measured at more than one
// -parallelism value side by side.
func printParallelism(w io.Writer, cfg config, results []result) {
	if len(cfg.parallelism) < 2 {
		return
	}
	fmt.Fprintf(w, "| hosts | -parallelism | %s | SSH logins per host in apply: max | apply CPU: terraform and provider / hosts | provider peak RSS MB | load average before |\n", strings.Join(phaseNames(), " | "))
	fmt.Fprintf(w, "|---:|---:|%s---:|---:|---:|---:|\n", strings.Repeat("---:|", len(phases)))
	for _, n := range cfg.parallelismHosts {
		for _, r := range results {
			if r.Hosts != n {
				continue
			}
			walls := make([]string, len(r.Phases))
			for i, p := range r.Phases {
				walls[i] = secs(p.Wall)
			}
			apply := r.Phases[phaseIndex("apply")]
			fmt.Fprintf(w, "| %d | %d | %s | %d | %.1f / %.1f s | %s | %s |\n", r.Hosts, r.Parallelism, strings.Join(walls, " | "),
				apply.LoginsMax, apply.TFCPU.Seconds(), apply.HostCPU.Seconds(), mb(peakRSS(r)), r.LoadBefore)
		}
	}
	fmt.Fprintln(w)
}

func phaseNames() []string {
	names := make([]string, len(phases))
	for i, p := range phases {
		names[i] = p.name
	}
	return names
}

func providerStarts(r result) string {
	counts := make([]string, len(r.Phases))
	for i, p := range r.Phases {
		counts[i] = fmt.Sprint(p.Providers)
	}
	return strings.Join(counts, ", ")
}

// peakRSS is the provider's largest peak RSS in any phase of r.
func peakRSS(r result) int64 {
	peak := int64(0)
	for _, p := range r.Phases {
		peak = max(peak, p.PeakRSSKB)
	}
	return peak
}

// opRows are the rows of r's remote commands table, without the hosts.
func opRows(r result) []string {
	var rows []string
	for _, k := range opsOf(r) {
		row := fmt.Sprintf("%s | %s |", k.op, k.rpc)
		for _, p := range r.Phases {
			if c := p.Commands[k]; c > 0 {
				row += fmt.Sprintf(" %.2f |", c)
			} else {
				row += " - |"
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// opsOf lists the remote commands of every phase of r in the order a
// resource meets them: by RPC, then reads before writes before the rest.
func opsOf(r result) []opRPC {
	seen := map[opRPC]bool{}
	for _, p := range r.Phases {
		for k := range p.Commands {
			seen[k] = true
		}
	}
	rank := func(list []string, match func(string) bool) int {
		if i := slices.IndexFunc(list, match); i >= 0 {
			return i
		}
		return len(list)
	}
	rpc := func(k opRPC) int {
		return rank([]string{"ReadDataSource", "ReadResource", "PlanResourceChange", "ApplyResourceChange"}, func(s string) bool { return s == k.rpc })
	}
	verb := func(k opRPC) int {
		return rank([]string{"read ", "write "}, func(s string) bool { return strings.HasPrefix(k.op, s) })
	}
	return slices.SortedFunc(maps.Keys(seen), func(a, b opRPC) int {
		return cmp.Or(cmp.Compare(rpc(a), rpc(b)), cmp.Compare(a.rpc, b.rpc), cmp.Compare(verb(a), verb(b)), cmp.Compare(a.op, b.op))
	})
}

const intro = `# Benchmarks

Terraform over N namespace test hosts (DESIGN.md section 6), each with one ` + "`conntrack_host`" + ` data source and one
resource of every type: ` + "`conntrack_limits`" + `, ` + "`conntrack_notrack_rule`" + `, ` + "`conntrack_iptables_config`" + `,
` + "`conntrack_module_blacklist`" + ` and ` + "`conntrack_firewall_service`" + ` (the configuration is ` + "`mainTF`" + ` in
cmd/bench/terraform.go), against Terraform's own floor: the same commands over %[2]dN builtin ` + "`terraform_data`" + `
resources (%[2]d per host, one for each object above): no plugin, no network.

The values are ones a namespace host converges on. ` + "`max`" + ` and ` + "`buckets`" + ` are not set: they are global,
read-only in a namespace; the two timeouts are per network namespace and are applied live. ` + "`conntrack_iptables_config`" + `
sets ` + "`modules_unload = false`" + ` and ` + "`sysctl_load_list = \".nf_conntrack\"`" + ` (iptables-services is not installed;
the benchmark creates /etc/sysconfig on each host, without which the write fails). ` + "`conntrack_module_blacklist`" + ` writes
the default blacklist with ` + "`unload = false`" + `: a namespace host shares the machine's kernel. ` + "`conntrack_firewall_service`" + `
declares iptables and ip6tables stopped and disabled, which they are: they are not installed.

## What is measured

Per host count, on fresh hosts, three phases in this order, each in the provider's configuration and in the floor's
(their runs alternate so that other load on the machine hits both alike). Every command is
` + "`terraform <command> -input=false -lock=false -no-color`" + ` with the provider from ` + "`dev_overrides`" + ` (no
` + "`terraform init`" + `) and ` + "`-parallelism`" + ` %[1]s.

- **plan fresh**: ` + "`plan -detailed-exitcode`" + ` with nothing in state: the data source reads and the plan to create each
  resource (each reads the host, except ` + "`conntrack_iptables_config`" + `, which plans without it). It must exit 2
  (changes). Median of the timed runs (the table says how many), after one untimed warm-up where there are several.
- **apply**: ` + "`apply -auto-approve`" + `, **timed once** per host count: it converges the hosts, so a second apply would
  measure something else. A single sample, so noisier than the medians. Afterwards the benchmark checks inside every host
  what the apply converged (the two timeouts, the two iptables-config keys, the blacklist's ` + "`blacklist nf_conntrack`" + `
  and ` + "`install nf_conntrack /bin/false`" + ` lines, no start link or lock file of either firewall service) and fails
  unless it holds. The floor's apply creates its %[2]dN ` + "`terraform_data`" + ` resources.
- **plan converged**: ` + "`plan -detailed-exitcode`" + ` on the applied state: the refresh reads every resource, the data
  sources are read again. It must exit 0 (no changes), or the benchmark fails and shows the plan. Median of
  the timed runs, as for plan fresh.
- **floor** and **overhead**: the floor's median for the same phase, the difference and the ratio.
- **SSH logins per host**: ` + "`Accepted`" + ` lines added to each host's sshd log during one run; the mean over hosts and
  runs, the most any host saw in one run, and the number of walks. The target is one login per host per Terraform walk
  (each walk starts its own provider process, with its own connections). A plan is one walk; ` + "`apply`" + ` without a saved
  plan is two, a plan walk and an apply walk, so **2 logins per host is right for apply**.
- **remote commands**: every run has ` + "`TF_LOG_PROVIDER=DEBUG`" + ` and its own ` + "`TF_LOG_PATH`" + `; the provider logs each
  remote command as a ` + "`remote command`" + ` line with ` + "`host`" + ` and ` + "`op`" + ` (and the framework adds the RPC,
  ` + "`tf_rpc`" + `), which are counted per host, per op and per phase. The key number is **remote commands per host**
  in the converged plan, whose %[2]d reads per host all come from one read of the host. Both configurations log in every
  run, so all times include the provider's debug logging (the floor starts no provider and logs nothing).
- **CPU**: the CPU time (user and system, median over the timed runs) of terraform with its provider processes, and
  of the hosts' sshd with everything it ran (key exchanges, sessions, the remote commands' shells), from the kernel's
  accounting of reaped processes. On this machine both share its CPUs: with 2 CPUs, a run cannot take less wall time
  than half their sum.
- **provider peak RSS**: the largest ` + "`VmHWM`" + ` of the provider processes terraform starts, polled from
  ` + "`/proc`" + ` every 10 ms.
- **handshake** (for the targets): median of 15 SSH logins from Go (TCP, key exchange, publickey auth), one at a time.
- **load average before**: the machine's 1, 5 and 15 minute load averages before the phase's first run: the machine is
  shared, and a load above its 2 CPUs stretches every wall time.

The test hosts' sshd and the remote commands' shells run on the same cores as Terraform and the provider, so every
login and command costs this machine the server's CPU too; against remote hosts the provider's share is what remains.

## Reproduce

As root (the test hosts are network namespaces), from the repository root: ` + "`make bench`" + ` (10 and 50 hosts) or
` + "`make bench-fleet`" + ` (10, 50, 200 and 500 hosts, and ` + "`-parallelism`" + ` 10, 30 and 100 at 500 hosts). This report came from

` + "```" + `sh
go build -o bin/terraform-provider-conntrack .
go run ./cmd/bench %[3]s
` + "```" + `

` + "`-keep`" + ` keeps each host count's working directory (configurations, states, one terraform log per run).

## Machine

%[4]s

## Results

`

func markdown(machine string, cfg config, results []result) string {
	var b strings.Builder
	all := results
	results = mainResults(cfg, all)
	fmt.Fprintf(&b, intro, fmt.Sprint(cfg.parallelism[0]), resourcesPerHost, cfg.args, machine)
	printTables(&b, results)
	if len(cfg.parallelism) > 1 {
		fmt.Fprintf(&b, "### -parallelism\n\nThe same phases at %s hosts with terraform's `-parallelism` %s, each on fresh hosts (wall times: plans median, apply one run):\n\n",
			strings.Trim(strings.Join(strings.Fields(fmt.Sprint(cfg.parallelismHosts)), ", "), "[]"),
			strings.Trim(strings.Join(strings.Fields(fmt.Sprint(cfg.parallelism)), ", "), "[]"))
		printParallelism(&b, cfg, all)
	}
	if cfg.svg != "" {
		fmt.Fprintf(&b, "![wall time against hosts](%s)\n", cfg.svg)
	}
	b.WriteString("\n## Targets (DESIGN.md section 6)\n\n| target | measured | |\n|---|---|---|\n")
	row := func(target, measured string, ok bool) {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", target, measured, map[bool]string{true: "met", false: "**not met**"}[ok])
	}

	ok, worst := true, make([]string, len(phases))
	for i, p := range phases {
		most := 0
		for _, r := range results {
			pr := r.Phases[i]
			ok = ok && pr.LoginsMin == p.walks+p.confirms && pr.LoginsMax == p.walks+p.confirms
			most = max(most, pr.LoginsMax)
		}
		worst[i] = fmt.Sprintf("%s: at most %d (%s", p.name, most, plural(p.walks, "walk"))
		if p.confirms > 0 {
			worst[i] += fmt.Sprintf(", plus %s of the host's guarded changes, all of them over one new connection", plural(p.confirms, "confirmation"))
		}
		worst[i] += ")"
	}
	row("1 SSH login per host per walk", "per host per run, "+strings.Join(worst, "; "), ok)

	ok, reads := true, []string{}
	for _, r := range results {
		ok = ok && perHost(r) == 1
		reads = append(reads, fmt.Sprintf("%.2f at %d hosts", perHost(r), r.Hosts))
	}
	row("1 remote read per host per walk", "converged plan, remote commands per host: "+strings.Join(reads, ", "), ok)

	r50 := slices.IndexFunc(results, func(r result) bool { return r.Hosts == 50 })
	if r50 < 0 {
		fmt.Fprintf(&b, "| 50-host plan within 1.5x (the floor plus one handshake per host) | not run (-hosts has no 50) | |\n")
		fmt.Fprintf(&b, "| apply of 50 hosts under 8 s | not run (-hosts has no 50) | |\n")
	} else {
		r := results[r50]
		for _, name := range []string{"plan fresh", "plan converged"} {
			p := r.Phases[phaseIndex(name)]
			// One handshake per host, as if made one after another.
			budget := time.Duration(1.5 * float64(p.Floor+50*r.Handshake))
			row("50-host plan within 1.5x (the floor plus one handshake per host)",
				fmt.Sprintf("%s: %s vs 1.5 x (%s + 50 x %s) = %s", name, secs(p.Wall), secs(p.Floor), ms(r.Handshake), secs(budget)), p.Wall <= budget)
		}
		apply := r.Phases[phaseIndex("apply")].Wall
		row("apply of 50 hosts under 8 s", fmt.Sprintf("%s (one run)", secs(apply)), apply < 8*time.Second)
	}

	first, last := results[0], results[len(results)-1]
	if r50 >= 0 && last.Hosts > 50 {
		// No faster than linearly: N hosts take at most N/50 times 50's.
		at50, atN := results[r50].Phases[phaseIndex("plan converged")].Wall, last.Phases[phaseIndex("plan converged")].Wall
		scale := float64(last.Hosts) / 50
		row(fmt.Sprintf("converged plan growing no faster than linearly from 50 to %d hosts", last.Hosts),
			fmt.Sprintf("%s at %d hosts vs %g x %s = %s (%.2f of linear)", secs(atN), last.Hosts, scale, secs(at50),
				secs(time.Duration(scale*float64(at50))), atN.Seconds()/(scale*at50.Seconds())), atN.Seconds() <= scale*at50.Seconds())
	}
	switch {
	case last.Hosts >= 500:
		row("provider RSS under 100 MB at 500 hosts", fmt.Sprintf("%s MB at %d hosts, largest of all phases", mb(peakRSS(last)), last.Hosts),
			peakRSS(last) < 100<<10)
	case last.Hosts > first.Hosts:
		// A straight line through the smallest and largest host counts.
		slope := float64(peakRSS(last)-peakRSS(first)) / float64(last.Hosts-first.Hosts)
		at500 := peakRSS(last) + int64(slope*float64(500-last.Hosts))
		verdict := "not run; likely met"
		if at500 >= 100<<10 {
			verdict = "not run; **likely not met**"
		}
		fmt.Fprintf(&b, "| provider RSS under 100 MB at 500 hosts | %s MB at %d hosts, largest of all phases; %s MB at 500 hosts by a straight line through %d and %d hosts (%.2f MB per host) | %s |\n",
			mb(peakRSS(last)), last.Hosts, mb(at500), first.Hosts, last.Hosts, slope/1024, verdict)
	default:
		fmt.Fprintf(&b, "| provider RSS under 100 MB at 500 hosts | %s MB at %d hosts (500 not run) | |\n", mb(peakRSS(last)), last.Hosts)
	}
	return b.String()
}

// series is one line of the chart.
type series struct {
	name, color string
	val         func(result) time.Duration
}

func phaseSeries(name, color string) series {
	i := phaseIndex(name)
	return series{name, color, func(r result) time.Duration { return r.Phases[i].Wall }}
}

var chartSeries = []series{
	phaseSeries("plan fresh", "#ff7f0e"),
	phaseSeries("apply", "#d62728"),
	phaseSeries("plan converged", "#2ca02c"),
	{"terraform_data floor (plan fresh)", "#1f77b4", func(r result) time.Duration { return r.Phases[phaseIndex("plan fresh")].Floor }},
}

// chart draws every series against host count as a plain SVG line chart, so
// the docs need no plotting tool.
func chart(results []result) string {
	const w, h, left, right, top, bottom = 640.0, 400.0, 70.0, 20.0, 40.0, 50.0
	maxHosts, maxSecs := 0, 0.0
	for _, r := range results {
		maxHosts = max(maxHosts, r.Hosts)
		for _, s := range chartSeries {
			maxSecs = math.Max(maxSecs, s.val(r).Seconds())
		}
	}
	step := niceStep(maxSecs / 5)
	yMax := math.Ceil(maxSecs/step) * step // the y axis ends on a tick
	x := func(n int) float64 { return left + float64(n)/float64(maxHosts)*(w-left-right) }
	y := func(s float64) float64 { return h - bottom - s/yMax*(h-top-bottom) }
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" font-family="sans-serif" font-size="12">`, w, h)
	p(`<rect width="100%%" height="100%%" fill="white"/>`)
	p(`<text x="%g" y="24" text-anchor="middle" font-size="15">terraform wall time (plans: median; apply: one run)</text>`, w/2)
	for i := 0.0; i*step <= yMax+step/2; i++ { // y ticks with grid lines
		p(`<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#ddd"/>`, left, y(i*step), w-right, y(i*step))
		p(`<text x="%g" y="%.1f" text-anchor="end">%g</text>`, left-6, y(i*step)+4, math.Round(i*step*1000)/1000)
	}
	for _, r := range results { // x ticks at the measured host counts
		p(`<line x1="%.1f" y1="%g" x2="%.1f" y2="%g" stroke="black"/>`, x(r.Hosts), h-bottom, x(r.Hosts), h-bottom+5)
		p(`<text x="%.1f" y="%g" text-anchor="middle">%d</text>`, x(r.Hosts), h-bottom+18, r.Hosts)
	}
	p(`<path d="M%g %g V%g H%g" fill="none" stroke="black"/>`, left, top, h-bottom, w-right)
	p(`<text x="%g" y="%g" text-anchor="middle">hosts</text>`, (left+w-right)/2, h-10)
	p(`<text transform="translate(20 %g) rotate(-90)" text-anchor="middle">seconds</text>`, (top+h-bottom)/2)
	for i, s := range chartSeries {
		var pts []string
		for _, r := range results {
			px, py := x(r.Hosts), y(s.val(r).Seconds())
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px, py))
			p(`<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>`, px, py, s.color)
		}
		p(`<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`, strings.Join(pts, " "), s.color)
		ly := top + 14 + float64(i)*18 // legend, top left inside the plot
		p(`<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="%s" stroke-width="2"/>`, left+12, ly, left+36, ly, s.color)
		p(`<text x="%g" y="%g">%s</text>`, left+42, ly+4, s.name)
	}
	p(`</svg>`)
	return b.String()
}

// niceStep rounds a tick step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	pow := math.Pow(10, math.Floor(math.Log10(max(raw, 1e-3))))
	for _, m := range []float64{1, 2, 5} {
		if raw <= m*pow {
			return m * pow
		}
	}
	return 10 * pow
}

// notesMarker starts the part of the report that people write: the analysis
// of a run (where the memory goes, what a loaded machine did to the times).
// A new run replaces everything above it and keeps the rest.
const notesMarker = "<!-- Written by hand from here on: cmd/bench keeps it when it rewrites the report above. -->"

// keptNotes is the hand-written part of a previous report, marker included,
// or nothing.
func keptNotes(previous string) string {
	i := strings.Index(previous, notesMarker)
	if i < 0 {
		return ""
	}
	return "\n" + previous[i:]
}
