package conntrack

import (
	"math"
	"strconv"
	"strings"
)

// bytesPerEntry is the memory the classic rule of thumb budgets per conntrack
// entry on a 32-bit kernel; 64-bit kernels use twice the memory per entry.
const bytesPerEntry = 16384

// RecommendedMax is the classic rule of thumb for nf_conntrack_max:
// memoryBytes / 16384 / (archBits/32). It returns 0 on bad input (archBits
// not 32 or 64, memory not positive).
func RecommendedMax(memoryBytes int64, archBits int) int64 {
	if memoryBytes <= 0 || (archBits != 32 && archBits != 64) {
		return 0
	}
	return memoryBytes / bytesPerEntry / int64(archBits/32)
}

// SizingRule is the hash table sizing rule that fits a kernel.
type SizingRule string

// The two rules.
const (
	// SizingModern fits Linux >= 5.15 and every kernel that refuses to
	// insert into a chain grown too long: the kernel's own default is
	// buckets = max (d532bcd0b269, "sanitize table size default
	// settings"), every entry is hashed twice (original and reply), and
	// since d7e7747ac5c2 ("refuse insertion if chain has grown too large")
	// long chains drop new connections far below max. Buckets >= max.
	SizingModern SizingRule = "modern"
	// SizingClassic fits older kernels: the 2016 rule of thumb, max / 8
	// buckets, max / 2 at most. Those kernels never refuse a long chain,
	// so more entries per bucket only makes lookups slower.
	SizingClassic SizingRule = "classic"
)

// SizingRules lists every SizingRule in display order (docs use it).
var SizingRules = []SizingRule{SizingModern, SizingClassic}

// MaxBuckets is the largest bucket count conntrack_limits accepts.
const MaxBuckets = 1 << 30

// MaxLoadFactor is the highest load factor (2 x max / buckets: hash nodes
// per bucket in a full table) that the modern rule accepts without a
// warning. It is the load factor of the pre-5.15 kernel default (max = 4 x
// buckets) and of kube-proxy's hashsize = max / 4, and it stays below the
// load factors at which a chain reaches the kernel's chain limit under
// uniform hashing: 11 for a limit of 32 (the top of the random 8..32 window
// of c9c3b6811f74), 24 for 50 (the floor since c77737b736ce, 2023).
const MaxLoadFactor = 8

// KernelVersion reads major and minor from a kernel release
// ("6.18.44-fc-v1272", "5.15.0-1111-azure", "2.6.32-754.el6.x86_64").
func KernelVersion(release string) (major, minor int, ok bool) {
	fields := strings.SplitN(release, ".", 3)
	if len(fields) < 2 {
		return 0, 0, false
	}
	digits := func(s string) (int, bool) {
		end := 0
		for end < len(s) && s[end] >= '0' && s[end] <= '9' {
			end++
		}
		n, err := strconv.Atoi(s[:end])
		return n, err == nil && end > 0 && end < 6
	}
	major, okMajor := digits(fields[0])
	minor, okMinor := digits(fields[1])
	if !okMajor || !okMinor || len(fields[0]) != len(strconv.Itoa(major)) {
		return 0, 0, false
	}
	return major, minor, true
}

// SizingFor is the rule for a kernel release. chainLimit says that the
// kernel's stat file has the chainlength column (d7e7747ac5c2): such a
// kernel refuses long chains whatever its version says (a vendor
// backport), so it gets the modern rule. A release that cannot be read
// gets the modern rule too: more buckets never make the kernel refuse an
// entry, and cost 8 bytes each against 256 for an entry.
func SizingFor(release string, chainLimit bool) SizingRule {
	major, minor, ok := KernelVersion(release)
	if chainLimit || !ok || major > 5 || (major == 5 && minor >= 15) {
		return SizingModern
	}
	return SizingClassic
}

// Sizing is the rule for the host the facts come from.
func (f Facts) Sizing() SizingRule {
	return SizingFor(f.KernelRelease, f.Stats != nil && f.Stats.ChainTooLong != nil)
}

// RecommendedBuckets is the hash table size that suits a given
// nf_conntrack_max under rule, and the top of the sensible range.
//   - modern: max (load factor 2, the kernel's own default since 5.15) up
//     to 2 x max (load factor 1, "at least twice as many buckets as
//     entries" in d532bcd0b269), at most MaxBuckets;
//   - classic: max / 8 (8 entries per bucket) up to max / 2.
//
// It returns 0, 0 when conntrackMax is not positive.
func RecommendedBuckets(rule SizingRule, conntrackMax int64) (buckets, most int64) {
	if conntrackMax <= 0 {
		return 0, 0
	}
	if rule == SizingClassic {
		return conntrackMax / 8, conntrackMax / 2
	}
	return min(conntrackMax, MaxBuckets), min(2*conntrackMax, MaxBuckets)
}

// LoadFactor is 2 x conntrackMax / buckets, rounded to 2 decimals: the hash
// nodes per bucket when the table is full (each entry is hashed once per
// direction). 0 when buckets is not positive or conntrackMax negative.
func LoadFactor(conntrackMax, buckets int64) float64 {
	if buckets <= 0 || conntrackMax < 0 {
		return 0
	}
	return math.Round(2*float64(conntrackMax)/float64(buckets)*100) / 100
}

// BucketsAdvice is what a rule says about a bucket count for a max.
type BucketsAdvice struct {
	Rule       SizingRule
	LoadFactor float64
	// Recommended and Most are RecommendedBuckets(Rule, max).
	Recommended, Most int64
	// TooFew: modern, the load factor is above MaxLoadFactor; classic,
	// buckets is below max / 8.
	TooFew bool
	// TooMany: classic only, buckets is above max / 2 (memory for
	// nothing). The modern rule has no upper bound worth a warning.
	TooMany bool
}

// AdviseBuckets judges buckets for conntrackMax under rule.
func AdviseBuckets(rule SizingRule, buckets, conntrackMax int64) BucketsAdvice {
	a := BucketsAdvice{Rule: rule, LoadFactor: LoadFactor(conntrackMax, buckets)}
	a.Recommended, a.Most = RecommendedBuckets(rule, conntrackMax)
	switch {
	case buckets <= 0 || conntrackMax <= 0:
	case rule == SizingClassic:
		a.TooFew, a.TooMany = buckets < a.Recommended, buckets > a.Most
	default:
		a.TooFew = 2*conntrackMax > MaxLoadFactor*buckets
	}
	return a
}

// ResizeWarnCount is the entry count from which a live change of the
// bucket count is worth a warning. The kernel rehashes the whole table in
// place (nf_conntrack_hash_resize): with bottom halves off and every bucket
// lock taken, it moves both hash nodes of every entry, so new connections
// wait on every CPU until it is done. At an estimated 0.1 to 0.2 us a node
// (two cache misses and a siphash; not measured: tests must not resize this
// machine's table), 10 000 entries hold them 2 to 4 ms, about what a NIC
// receive ring of 1024 to 4096 packets lasts at a million packets a
// second; a full table of a million entries holds them 0.2 to 0.4 s.
const ResizeWarnCount = 10000

// ResizeStalls reports whether writing want buckets live rehashes a table
// big enough to stall new connections: the count is known and at least
// ResizeWarnCount, and the running bucket count is known and differs.
func ResizeStalls(count, running *int64, want int64) bool {
	return count != nil && running != nil && *running != want && *count >= ResizeWarnCount
}

// EntryBytes is the kernel memory one conntrack entry takes: the object
// size of the nf_conntrack slab cache (struct nf_conn rounded up to a cache
// line), read from /proc/slabinfo on the kernel test host (Debian 12,
// Linux 6.1, x86_64; TestAccHostDataSource_kernelCheckRecipe checks it).
// Older kernels were measured at 304 to 384 bytes; a 32-bit kernel's
// entries are smaller (4-byte pointers).
const EntryBytes = 256

// TableMemoryBytes is the kernel memory a full table costs: conntrackMax
// entries of EntryBytes plus a hash table of buckets pointers (8 bytes
// each on 64-bit, 4 on 32-bit, where the result is an upper bound). It returns 0 when either is
// negative.
func TableMemoryBytes(conntrackMax, buckets int64) int64 {
	if conntrackMax < 0 || buckets < 0 {
		return 0
	}
	return conntrackMax*EntryBytes + buckets*8
}
