package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
func ms(d time.Duration) string   { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// printTable writes the results as a markdown table, which reads as well in
// a terminal as in BENCHMARKS.md, plus what explains them.
func printTable(w io.Writer, results []result) {
	fmt.Fprintln(w, "| hosts | plan wall time (median) | floor (terraform_data) median | overhead vs floor | SSH logins per host (mean / max) | provider peak RSS MB |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		fmt.Fprintf(w, "| %d | %s | %s | %+.2f s (%.1fx) | %.2f / %d | %.1f |\n", r.Hosts, secs(r.Plan), secs(r.Floor),
			(r.Plan - r.Floor).Seconds(), r.Plan.Seconds()/r.Floor.Seconds(), r.LoginsMean, r.LoginsMax, float64(r.PeakRSSKB)/1024)
	}
	fmt.Fprintln(w)
	for _, r := range results {
		fmt.Fprintf(w, "%d hosts: one SSH login from Go takes %s; terraform started the provider %d times per plan.\n",
			r.Hosts, ms(r.Handshake), r.Providers)
	}
}

const intro = `# Benchmarks

` + "`terraform plan`" + ` reading one ` + "`conntrack_host`" + ` data source per host over N namespace test hosts
(DESIGN.md section 6), against Terraform's own floor: the same plan over N ` + "`terraform_data`" + ` resources.

## What is measured

- **plan wall time**: ` + "`terraform plan -input=false -lock=false -no-color`" + ` with the provider from
  ` + "`dev_overrides`" + ` (no ` + "`terraform init`" + `), default parallelism (10); median of %d runs after one
  untimed warm-up. Provider and floor runs alternate so that other load on the machine hits both alike.
- **floor**: the same plan over N builtin ` + "`terraform_data`" + ` resources: no plugin, no network.
- **overhead**: plan median minus floor median, and their ratio.
- **SSH logins per host**: ` + "`Accepted`" + ` lines added to each host's sshd log during one plan; the mean over
  hosts and runs, and the most any host saw in one plan.
- **provider peak RSS**: the largest ` + "`VmHWM`" + ` of the provider processes terraform starts, polled from
  ` + "`/proc`" + ` every 10 ms.
- **handshake** (for the targets): median of 15 SSH logins from Go (TCP, key exchange, publickey auth), one at a time.

The test hosts' sshd runs on the same cores as Terraform and the provider, so every login costs this machine
the server's CPU too; against remote hosts the provider's share is what remains.

## Reproduce

As root (the test hosts are network namespaces), from the repository root: ` + "`make bench`" + `, which is

` + "```" + `sh
go build -o bin/terraform-provider-conntrack .
go run ./cmd/bench -provider bin/terraform-provider-conntrack -terraform bin/terraform \
  -hosts %s -runs %d -markdown %s -svg %s
` + "```" + `

## Machine

%s

## Results

`

func markdown(machine string, cfg config, results []result) string {
	var b strings.Builder
	fmt.Fprintf(&b, intro, cfg.runs, cfg.hostList, cfg.runs, cfg.markdown, cfg.svg, machine)
	printTable(&b, results)
	if cfg.svg != "" {
		fmt.Fprintf(&b, "\n![plan time](%s)\n", cfg.svg)
	}
	b.WriteString("\n## Targets (DESIGN.md section 6)\n\n| target | measured | |\n|---|---|---|\n")
	met := func(ok bool) string { return map[bool]string{true: "met", false: "**not met**"}[ok] }
	ok, worst := true, 0.0
	for _, r := range results {
		ok = ok && r.LoginsMean == 1 && r.LoginsMax == 1
		worst = math.Max(worst, math.Max(r.LoginsMean, float64(r.LoginsMax)))
	}
	fmt.Fprintf(&b, "| 1 SSH login per host per walk | at most %g per host per plan | %s |\n", worst, met(ok))
	plan50 := "| 50-host plan within 1.3x the floor plus one handshake per host | not run (-hosts has no 50) | |"
	for _, r := range results {
		if r.Hosts == 50 { // one handshake per host, as if made one after another
			budget := time.Duration(1.3*float64(r.Floor)) + 50*r.Handshake
			plan50 = fmt.Sprintf("| 50-host plan within 1.3x the floor plus one handshake per host | %s vs 1.3 x %s + 50 x %s = %s | %s |",
				secs(r.Plan), secs(r.Floor), ms(r.Handshake), secs(budget), met(r.Plan <= budget))
		}
	}
	b.WriteString(plan50 + "\n")
	last, note := results[len(results)-1], ""
	if last.Hosts < 500 {
		note = " (500 not run)"
	}
	fmt.Fprintf(&b, "| provider RSS under 100 MB at 500 hosts | %.1f MB at %d hosts%s | %s |\n",
		float64(last.PeakRSSKB)/1024, last.Hosts, note, met(last.PeakRSSKB < 100<<10))
	return b.String()
}

// chart draws plan and floor medians against host count as a plain SVG line
// chart, so the docs need no plotting tool.
func chart(results []result) string {
	const w, h, left, right, top, bottom = 640.0, 400.0, 70.0, 20.0, 40.0, 50.0
	maxHosts, maxSecs := 0, 0.0
	for _, r := range results {
		maxHosts, maxSecs = max(maxHosts, r.Hosts), math.Max(maxSecs, math.Max(r.Plan.Seconds(), r.Floor.Seconds()))
	}
	step := niceStep(maxSecs / 5)
	yMax := math.Ceil(maxSecs/step) * step // the y axis ends on a tick
	x := func(n int) float64 { return left + float64(n)/float64(maxHosts)*(w-left-right) }
	y := func(s float64) float64 { return h - bottom - s/yMax*(h-top-bottom) }
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" font-family="sans-serif" font-size="12">`, w, h)
	p(`<rect width="100%%" height="100%%" fill="white"/>`)
	p(`<text x="%g" y="24" text-anchor="middle" font-size="15">terraform plan, median wall time</text>`, w/2)
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
	for i, s := range []struct {
		name, color string
		val         func(result) time.Duration
	}{
		{"conntrack_host plan", "#d62728", func(r result) time.Duration { return r.Plan }},
		{"terraform_data floor", "#1f77b4", func(r result) time.Duration { return r.Floor }},
	} {
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
