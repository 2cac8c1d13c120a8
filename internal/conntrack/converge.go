package conntrack

import (
	"bytes"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conffile/modprobe"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conffile/modulesload"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conffile/sysctl"
)

// Managed is what a conntrack_limits resource owns on a host.
type Managed struct {
	// Sysctls maps short names ("max", "udp_timeout") to values.
	Sysctls map[string]string
	// Buckets is the hash size to persist as `options MODULE hashsize=N`;
	// empty when unmanaged.
	Buckets string
	// LoadModule lists the conntrack module in the modules-load.d file
	// (which the resource owns whole).
	LoadModule bool
}

// naming is the host's naming, modern when conntrack is not loaded (the
// values then only go to files, for the modern module to read at boot).
func (l Limits) naming() Naming {
	if l.Facts.Naming == "" {
		return NamingModern
	}
	return l.Facts.Naming
}

// Key is the full sysctl key of a short name on this host.
func (l Limits) Key(short string) string { return SysctlKey(l.naming(), short) }

// PersistedSysctl is the value the sysctl file gives short at boot.
func (l Limits) PersistedSysctl(short string) (string, bool) {
	return sysctl.Parse(l.Sysctl.Content).Get(l.Key(short))
}

// PersistedBuckets is the hashsize option of the modprobe file.
func (l Limits) PersistedBuckets() (string, bool) {
	return modprobe.Parse(l.Modprobe.Content).Option(ModuleName(l.naming()), "hashsize")
}

// ModuleLoadedAtBoot reports whether the modules-load file lists the module.
func (l Limits) ModuleLoadedAtBoot() bool {
	return modulesload.Parse(l.ModulesLoad.Content).Has(ModuleName(l.naming()))
}

// EditFiles makes the files say what want manages and drop what only prev
// managed, touching nothing else. It returns the files whose bytes change.
func (l Limits) EditFiles(want, prev Managed) []File {
	var changed []File
	keep := func(f File, b []byte) {
		if !bytes.Equal(b, f.Content) {
			f.Content = b
			changed = append(changed, f)
		}
	}

	sc := sysctl.Parse(l.Sysctl.Content)
	for _, short := range slices.Sorted(maps.Keys(prev.Sysctls)) {
		if _, still := want.Sysctls[short]; !still {
			sc.Delete(l.Key(short))
		}
	}
	for _, short := range slices.Sorted(maps.Keys(want.Sysctls)) {
		sc.Set(l.Key(short), want.Sysctls[short])
	}
	keep(l.Sysctl, sc.Bytes())

	mp := modprobe.Parse(l.Modprobe.Content)
	module := ModuleName(l.naming())
	switch {
	case want.Buckets != "":
		mp.SetOption(module, "hashsize", want.Buckets)
	case prev.Buckets != "":
		mp.DeleteOption(module, "hashsize")
	}
	keep(l.Modprobe, mp.Bytes())

	// The modules-load file is the resource's own: false means not listed.
	ml := modulesload.Parse(l.ModulesLoad.Content)
	ml.Set(module, want.LoadModule)
	keep(l.ModulesLoad, ml.Bytes())
	return changed
}

// LiveWrites are the running values to set for want, max first, so a
// growing table never has more buckets than entries.
func (l Limits) LiveWrites(want Managed) []LiveWrite {
	var writes []LiveWrite
	order := slices.Sorted(maps.Keys(want.Sysctls))
	sort.SliceStable(order, func(i, j int) bool { return order[i] == "max" && order[j] != "max" })
	for _, short := range order {
		writes = append(writes, LiveWrite{Path: ProcPath(l.Key(short)), Value: want.Sysctls[short]})
	}
	if want.Buckets != "" {
		writes = append(writes, LiveWrite{Path: HashsizePath(l.Facts.Naming), Value: want.Buckets})
	}
	return writes
}

// Lowering names the settings of want that lower a running value (or
// change one that is not a number): the live limits changes that can stop
// new connections, SSH among them (a max below the count, a short timeout
// under a stateful filter, tcp_loose off). Raising a value cannot, so only
// these are guarded.
func (l Limits) Lowering(want Managed) []string {
	var out []string
	lowers := func(now, next string) bool {
		a, errA := strconv.ParseInt(strings.TrimSpace(now), 10, 64)
		b, errB := strconv.ParseInt(strings.TrimSpace(next), 10, 64)
		if errA != nil || errB != nil {
			return strings.Join(strings.Fields(now), " ") != strings.Join(strings.Fields(next), " ")
		}
		return b < a
	}
	for _, short := range slices.Sorted(maps.Keys(want.Sysctls)) {
		if now, ok := l.Running[short]; ok && lowers(now, want.Sysctls[short]) {
			out = append(out, short)
		}
	}
	if want.Buckets != "" && l.Facts.Buckets != nil && lowers(strconv.FormatInt(*l.Facts.Buckets, 10), want.Buckets) {
		out = append(out, "buckets")
	}
	return out
}
