# What raising the table to 1048576 entries costs in kernel memory, when full.
output "conntrack_mib" {
  value = provider::conntrack::table_memory_bytes(1048576, provider::conntrack::recommended_buckets(1048576)) / 1048576 # 264 MiB
}
