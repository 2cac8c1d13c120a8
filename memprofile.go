//go:build memprofile

// A provider built with `-tags memprofile` writes what its memory holds when
// CONNTRACK_HEAP_PROFILE names a directory: every second it collects
// garbage and, at each new peak of the live heap, writes a heap profile
// (heap-PID.pprof, read with `go tool pprof`), its goroutines
// (goroutines-PID.txt) and the runtime's memory classes (mem-PID.txt);
// live-PID.log has the live heap of every second. The
// forced collections keep the heap small, so the RSS of such a build is not
// the release build's: the benchmark measures RSS with the release build.
// Release builds have none of this.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strings"
	"time"
)

func init() {
	dir := os.Getenv("CONNTRACK_HEAP_PROFILE")
	if dir == "" {
		return
	}
	// Small objects make up the per-host costs: sample far more often than
	// the default 512 KiB.
	runtime.MemProfileRate = 4096
	go watchHeap(dir)
}

// memClasses are the runtime's own accounting of the memory it maps: what
// adds up to the RSS besides the heap's objects.
var memClasses = []string{
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/heap/stacks:bytes",
	"/memory/classes/metadata/other:bytes",
	"/memory/classes/metadata/mspan/inuse:bytes",
	"/memory/classes/profiling/buckets:bytes",
	"/memory/classes/other:bytes",
	"/memory/classes/total:bytes",
	"/gc/cycles/total:gc-cycles",
	"/sched/goroutines:goroutines",
}

func watchHeap(dir string) {
	samples := make([]metrics.Sample, len(memClasses))
	for i, name := range memClasses {
		samples[i].Name = name
	}
	var peak uint64
	series, _ := os.Create(filepath.Join(dir, fmt.Sprintf("live-%d.log", os.Getpid())))
	for range time.Tick(time.Second) {
		runtime.GC() // after a collection, objects are what is live
		metrics.Read(samples)
		live := samples[0].Value.Uint64()
		if series != nil {
			fmt.Fprintf(series, "%s live %d goroutines %d\n", time.Now().UTC().Format("15:04:05"), live, samples[11].Value.Uint64())
		}
		if live <= peak {
			continue
		}
		peak = live
		var b strings.Builder
		fmt.Fprintf(&b, "time %s\n", time.Now().UTC().Format(time.RFC3339Nano))
		for _, s := range samples {
			fmt.Fprintf(&b, "%s %d\n", s.Name, s.Value.Uint64())
		}
		if st, err := os.ReadFile("/proc/self/status"); err == nil {
			for _, line := range strings.Split(string(st), "\n") {
				if strings.HasPrefix(line, "VmHWM:") || strings.HasPrefix(line, "VmRSS:") {
					b.WriteString(line + "\n")
				}
			}
		}
		pid := os.Getpid()
		write(filepath.Join(dir, fmt.Sprintf("mem-%d.txt", pid)), func(f *os.File) error { _, err := f.WriteString(b.String()); return err })
		write(filepath.Join(dir, fmt.Sprintf("heap-%d.pprof", pid)), func(f *os.File) error { return pprof.Lookup("heap").WriteTo(f, 0) })
		write(filepath.Join(dir, fmt.Sprintf("goroutines-%d.txt", pid)), func(f *os.File) error { return pprof.Lookup("goroutine").WriteTo(f, 1) })
	}
}

// write fills a file aside and renames it into place: the process may end
// at any moment, and a half-written profile must not replace a whole one.
func write(path string, fill func(*os.File) error) {
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return
	}
	err = fill(f)
	if cerr := f.Close(); err == nil && cerr == nil {
		_ = os.Rename(path+".tmp", path)
	}
}
