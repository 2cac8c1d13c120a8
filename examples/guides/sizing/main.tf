# From an inventory, without reading the hosts (Terraform >= 1.8, OpenTofu >= 1.7).
variable "inventory" {
  description = "Memory in bytes and kernel word size of each host."
  type        = map(object({ memory_bytes = number, arch_bits = optional(number, 64) }))
  default = {
    "10.0.0.11" = { memory_bytes = 8589934592 }
    "10.0.0.12" = { memory_bytes = 68719476736 }
  }
}

locals {
  max = { for h, i in var.inventory : h => provider::conntrack::recommended_max(i.memory_bytes, i.arch_bits) }
}

resource "conntrack_limits" "fleet" {
  for_each = var.inventory
  host     = each.key
  max      = local.max[each.key]
  buckets  = provider::conntrack::recommended_buckets(local.max[each.key])
}

output "conntrack_memory_mib" {
  description = "Kernel memory each full table takes."
  value = {
    for h, m in local.max : h => floor(provider::conntrack::table_memory_bytes(m, provider::conntrack::recommended_buckets(m)) / 1048576)
  }
}
