package conntrack

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

// RecommendedBuckets is the range of hash table sizes that suits a given
// nf_conntrack_max by the same rule of thumb: from conntrackMax/8 (8 entries
// per bucket) to conntrackMax/2. It returns 0, 0 when conntrackMax is not
// positive.
func RecommendedBuckets(conntrackMax int64) (least, most int64) {
	if conntrackMax <= 0 {
		return 0, 0
	}
	return conntrackMax / 8, conntrackMax / 2
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
