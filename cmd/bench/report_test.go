package main

import (
	"strings"
	"testing"
	"time"
)

func TestCounts(t *testing.T) {
	got, err := counts("-hosts", "10, 50,200,500")
	if err != nil || len(got) != 4 || got[3] != 500 {
		t.Errorf("counts = %v, %v", got, err)
	}
	for _, bad := range []string{"", "10,,50", "0", "-1", "ten"} {
		if _, err := counts("-hosts", bad); err == nil {
			t.Errorf("counts(%q) accepted", bad)
		}
	}
}

// fakeResult is a host count whose phases took wall each, at parallelism.
func fakeResult(hosts, parallelism int, wall time.Duration, rssKB int64) result {
	r := result{Hosts: hosts, Parallelism: parallelism, Handshake: 40 * time.Millisecond, LoadBefore: "1.00 1.00 1.00"}
	for _, p := range phases {
		logins := p.walks + p.confirms
		r.Phases = append(r.Phases, phaseResult{Runs: 1, Wall: wall, Floor: wall / 10, LoginsMean: float64(logins),
			LoginsMin: logins, LoginsMax: logins, Commands: map[opRPC]float64{{"read host", "ReadResource"}: 1},
			CommandsMin: 1, CommandsMax: 1, PeakRSSKB: rssKB, Load: "1.00 1.00 1.00", TFCPU: wall / 10, HostCPU: wall / 2})
	}
	return r
}

func TestMarkdownFleet(t *testing.T) {
	cfg := config{hosts: []int{50, 500}, runs: []int{1, 1}, parallelism: []int{10, 30}, parallelismHosts: []int{500},
		args: "-hosts 50,500", markdown: "BENCHMARKS.md", svg: "docs/benchmarks.svg"}
	results := []result{
		fakeResult(50, 10, 5*time.Second, 40<<10),
		fakeResult(500, 10, 60*time.Second, 90<<10),
		fakeResult(500, 30, 40*time.Second, 95<<10),
	}
	md := markdown("a machine", cfg, results)
	for _, want := range []string{
		"| 50 | plan fresh (1 run) | 5.00 s | 0.50 s | +4.50 s (10.0x) | 1.00 / 1 (1) | 1.00 (1-1) | 0.5 / 2.5 s |", // CPU split
		"| 500 | 10 | 60.00 s | 60.00 s | 60.00 s | 3 | 6.0 / 30.0 s |",                                             // the parallelism table, both values
		"| 500 | 30 | 40.00 s | 40.00 s | 40.00 s | 3 | 4.0 / 20.0 s |",
		"converged plan growing no faster than linearly from 50 to 500 hosts | 60.00 s at 500 hosts vs 10 x 5.00 s = 50.00 s (1.20 of linear) | **not met**",
		"provider RSS under 100 MB at 500 hosts | 90.0 MB at 500 hosts, largest of all phases | met",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	// The main table and the chart have the first parallelism only.
	if strings.Contains(md, "| 500 | plan fresh (1 run) | 40.00 s") {
		t.Error("the main table shows the parallelism 30 run")
	}
	if svg := chart(mainResults(cfg, results)); strings.Count(svg, "<circle") != 2*len(chartSeries) {
		t.Errorf("chart has %d points, want %d", strings.Count(svg, "<circle"), 2*len(chartSeries))
	}
}

func TestKeptNotes(t *testing.T) {
	previous := "# Benchmarks\n\nold generated tables\n\n" + notesMarker + "\n\n## Memory per host\n\nanalysis\n"
	if got, want := keptNotes(previous), "\n"+notesMarker+"\n\n## Memory per host\n\nanalysis\n"; got != want {
		t.Errorf("keptNotes = %q, want %q", got, want)
	}
	if got := keptNotes("# Benchmarks\n\nno notes\n"); got != "" {
		t.Errorf("keptNotes without the marker = %q, want nothing", got)
	}
}
