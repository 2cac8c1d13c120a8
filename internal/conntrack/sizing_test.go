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
	tests := []struct{ max, wantMin, wantMax int64 }{
		{262144, 32768, 131072},
		{65537, 8192, 32768},
		{7, 0, 3},
		{0, 0, 0},
		{-16, 0, 0},
	}
	for _, tt := range tests {
		if lo, hi := RecommendedBuckets(tt.max); lo != tt.wantMin || hi != tt.wantMax {
			t.Errorf("RecommendedBuckets(%d) = %d, %d, want %d, %d", tt.max, lo, hi, tt.wantMin, tt.wantMax)
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
