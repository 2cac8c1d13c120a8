# The shared module: what every shard declares for each of its hosts. It
# configures no provider; each shard's root module does (its own SSH key and
# known_hosts, possibly a bastion per site).
terraform {
  required_providers {
    conntrack = {
      source = "conntrack-ops/conntrack"
    }
  }
}

variable "hosts" {
  description = "The hosts of this shard (addresses or names the provider connects to)."
  type        = set(string)
}

variable "size_from_memory" {
  description = "Set nf_conntrack_max and the hash buckets from each host's memory. False where the kernel does not let the host change them (containers, network namespaces)."
  type        = bool
  default     = true
}

variable "notrack_udp_ports" {
  description = "UDP ports whose traffic skips connection tracking on every host (e.g. \"53\" on resolvers)."
  type        = set(string)
  default     = []
}

data "conntrack_host" "this" {
  for_each = var.hosts
  host     = each.value
}

resource "conntrack_limits" "this" {
  for_each = var.hosts
  host     = each.value

  max     = var.size_from_memory ? data.conntrack_host.this[each.key].recommended_max : null
  buckets = var.size_from_memory ? data.conntrack_host.this[each.key].recommended_buckets : null

  tcp_timeout_established = 3600
  tcp_timeout_time_wait   = 30
}

resource "conntrack_notrack_rule" "udp" {
  for_each = { for pair in setproduct(var.hosts, var.notrack_udp_ports) : "${pair[0]} udp/${pair[1]}" => { host = pair[0], port = pair[1] } }
  host     = each.value.host

  protocol = "udp"
  port     = each.value.port
  comment  = "fleet udp ${each.value.port}"
}

output "fill_percent" {
  description = "How full each host's table is, read live in this plan."
  value       = { for h, d in data.conntrack_host.this : h => d.fill_percent }
}
