# Size a fleet from an inventory of memory sizes, without reading each host.
locals {
  memory_bytes = { "10.0.0.11" = 8589934592, "10.0.0.12" = 68719476736 }
}

resource "conntrack_limits" "fleet" {
  for_each = local.memory_bytes
  host     = each.key
  max      = provider::conntrack::recommended_max(each.value, 64) # 262144 and 2097152
  buckets  = provider::conntrack::recommended_buckets(provider::conntrack::recommended_max(each.value, 64))
}
