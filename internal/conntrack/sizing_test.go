package conntrack

import "testing"

func TestRecommendedMax(t *testing.T) {
	t.Parallel()
	const gib = int64(1) << 30
	tests := []struct {
		mem  int64
		bits int
		want int64
	}{
		{8 * gib, 64, 262144},
		{8 * gib, 32, 524288},
		{24684092 * 1024, 64, 771377}, // this test machine's MemTotal, rounded down
		{16383, 32, 0},
		{0, 64, 0},
		{-8 * gib, 64, 0},
		{8 * gib, 0, 0},
		{8 * gib, 16, 0},
		{8 * gib, 128, 0},
	}
	for _, tt := range tests {
		if got := RecommendedMax(tt.mem, tt.bits); got != tt.want {
			t.Errorf("RecommendedMax(%d, %d) = %d, want %d", tt.mem, tt.bits, got, tt.want)
		}
	}
}

func TestRecommendedBuckets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rule            SizingRule
		max, want, most int64
	}{
		// Kernels >= 5.15: at least one bucket per entry (load factor 2, the
		// kernel's own default), up to two.
		{SizingModern, 262144, 262144, 524288},
		{SizingModern, 6799, 6799, 13598},
		{SizingModern, 1, 1, 2},
		{SizingModern, 1<<31 - 1, MaxBuckets, MaxBuckets},
		{SizingModern, 0, 0, 0},
		{SizingModern, -16, 0, 0},
		// Older kernels: the 2016 rule of thumb.
		{SizingClassic, 262144, 32768, 131072},
		{SizingClassic, 65537, 8192, 32768},
		{SizingClassic, 7, 0, 3},
		{SizingClassic, 0, 0, 0},
		{SizingClassic, -16, 0, 0},
	}
	for _, tt := range tests {
		if got, most := RecommendedBuckets(tt.rule, tt.max); got != tt.want || most != tt.most {
			t.Errorf("RecommendedBuckets(%s, %d) = %d, %d, want %d, %d", tt.rule, tt.max, got, most, tt.want, tt.most)
		}
	}
}

func TestKernelVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		release      string
		major, minor int
		ok           bool
	}{
		{"6.18.44-fc-v1272", 6, 18, true},
		{"5.15.0-1111-azure", 5, 15, true},
		{"5.14.0-427.13.1.el9_4.x86_64", 5, 14, true},
		{"4.18.0-553.el8_10.x86_64", 4, 18, true},
		{"2.6.32-754.el6.x86_64", 2, 6, true},
		{"5.15-rc1", 5, 15, true},
		{"6.1", 6, 1, true},
		{"", 0, 0, false},
		{"6", 0, 0, false},
		{"v6.1.0", 0, 0, false},
		{"6.x.1", 0, 0, false},
		{"99999999999999999999.1", 0, 0, false},
	}
	for _, tt := range tests {
		major, minor, ok := KernelVersion(tt.release)
		if major != tt.major || minor != tt.minor || ok != tt.ok {
			t.Errorf("KernelVersion(%q) = %d, %d, %t, want %d, %d, %t", tt.release, major, minor, ok, tt.major, tt.minor, tt.ok)
		}
	}
}

func TestSizingFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		release    string
		chainLimit bool
		want       SizingRule
	}{
		{"6.18.44-fc-v1272", true, SizingModern},
		{"6.12.117+deb13-amd64", false, SizingModern},
		{"5.15.0-1111-azure", false, SizingModern},
		{"5.14.21-150500.55-default", false, SizingClassic},
		{"5.10.0-30-amd64", false, SizingClassic},
		{"3.10.0-1160.el7.x86_64", false, SizingClassic},
		// A vendor kernel that backported the chain limit: the stat file says so.
		{"5.14.0-427.el9.x86_64", true, SizingModern},
		// Unreadable release: the rule that never makes the kernel refuse entries.
		{"", false, SizingModern},
		{"weird", false, SizingModern},
	}
	for _, tt := range tests {
		if got := SizingFor(tt.release, tt.chainLimit); got != tt.want {
			t.Errorf("SizingFor(%q, %t) = %s, want %s", tt.release, tt.chainLimit, got, tt.want)
		}
	}
	zero := uint64(0)
	if r := (Facts{KernelRelease: "4.19.0-27-amd64", Stats: &Stats{ChainTooLong: &zero}}).Sizing(); r != SizingModern {
		t.Errorf("a chainlength column means modern, got %s", r)
	}
	if r := (Facts{KernelRelease: "4.19.0-27-amd64", Stats: &Stats{}}).Sizing(); r != SizingClassic {
		t.Errorf("4.19 without the column is classic, got %s", r)
	}
}

func TestLoadFactor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		max, buckets int64
		want         float64
	}{
		{262144, 262144, 2},
		{262144, 524288, 1},
		{262144, 32768, 16},
		{6799, 849, 16.02},
		{100, 3, 66.67},
		{0, 16, 0},
		{16, 0, 0},
		{-1, 16, 0},
		{1<<31 - 1, 1, 4294967294},
	}
	for _, tt := range tests {
		if got := LoadFactor(tt.max, tt.buckets); got != tt.want {
			t.Errorf("LoadFactor(%d, %d) = %v, want %v", tt.max, tt.buckets, got, tt.want)
		}
	}
}

func TestAdviseBuckets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                 string
		rule                 SizingRule
		buckets, max         int64
		tooFew, tooMany      bool
		loadFactor           float64
		recommended, topMost int64
	}{
		// Kernels >= 5.15: the kernel's own default and more are fine.
		{"modern: kernel default", SizingModern, 262144, 262144, false, false, 2, 262144, 524288},
		{"modern: twice max", SizingModern, 524288, 262144, false, false, 1, 262144, 524288},
		{"modern: eight times max", SizingModern, 8 * 262144, 262144, false, false, 0.25, 262144, 524288},
		{"modern: kube-proxy's max/4 is the limit", SizingModern, 65536, 262144, false, false, 8, 262144, 524288},
		{"modern: just over the limit", SizingModern, 65535, 262144, true, false, 8, 262144, 524288},
		{"modern: the article's max/8", SizingModern, 32768, 262144, true, false, 16, 262144, 524288},
		{"modern: Debian 13 guest", SizingModern, 849, 6799, true, false, 16.02, 6799, 13598},
		// Older kernels: the article's band.
		{"classic: max/8", SizingClassic, 32768, 262144, false, false, 16, 32768, 131072},
		{"classic: max/2", SizingClassic, 131072, 262144, false, false, 4, 32768, 131072},
		{"classic: pre-5.15 default max/4", SizingClassic, 65536, 262144, false, false, 8, 32768, 131072},
		{"classic: below max/8", SizingClassic, 32767, 262144, true, false, 16, 32768, 131072},
		{"classic: above max/2", SizingClassic, 131073, 262144, false, true, 4, 32768, 131072},
		{"classic: more than max", SizingClassic, 524288, 262144, false, true, 1, 32768, 131072},
		// Nothing to judge.
		{"no max", SizingModern, 16, 0, false, false, 0, 0, 0},
	}
	for _, tt := range tests {
		a := AdviseBuckets(tt.rule, tt.buckets, tt.max)
		if a.TooFew != tt.tooFew || a.TooMany != tt.tooMany || a.LoadFactor != tt.loadFactor || a.Rule != tt.rule ||
			a.Recommended != tt.recommended || a.Most != tt.topMost {
			t.Errorf("%s: AdviseBuckets(%s, %d, %d) = %+v", tt.name, tt.rule, tt.buckets, tt.max, a)
		}
	}
}

func TestResizeStalls(t *testing.T) {
	t.Parallel()
	i := func(v int64) *int64 { return &v }
	tests := []struct {
		count, running *int64
		want           int64
		stalls         bool
	}{
		{i(ResizeWarnCount), i(65536), 262144, true},
		{i(ResizeWarnCount - 1), i(65536), 262144, false},
		{i(250000), i(262144), 262144, false}, // no change, no rehash
		{nil, i(65536), 262144, false},
		{i(250000), nil, 262144, false},
	}
	for _, tt := range tests {
		if got := ResizeStalls(tt.count, tt.running, tt.want); got != tt.stalls {
			t.Errorf("ResizeStalls(%v, %v, %d) = %t", deref(tt.count), deref(tt.running), tt.want, got)
		}
	}
}

func TestTableMemoryBytes(t *testing.T) {
	t.Parallel()
	tests := []struct{ max, buckets, want int64 }{
		{262144, 32768, 262144*EntryBytes + 32768*8}, // 8 GiB, 64-bit: 80 MiB + 256 KiB
		{1, 0, EntryBytes},
		{0, 0, 0},
		{-1, 8, 0},
		{8, -1, 0},
		{1<<31 - 1, 1 << 30, (1<<31-1)*EntryBytes + (1<<30)*8}, // the largest sysctl values do not overflow
	}
	for _, tt := range tests {
		if got := TableMemoryBytes(tt.max, tt.buckets); got != tt.want {
			t.Errorf("TableMemoryBytes(%d, %d) = %d, want %d", tt.max, tt.buckets, got, tt.want)
		}
	}
}
