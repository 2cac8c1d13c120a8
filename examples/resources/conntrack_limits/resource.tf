variable "hosts" {
  type    = set(string)
  default = ["10.0.0.11", "10.0.0.12"]
}

# Read each host's memory and architecture...
data "conntrack_host" "fleet" {
  for_each = var.hosts
  host     = each.value
}

# ...and size its table by the rule of thumb: RAM bytes / 16384 / (arch bits / 32),
# with the hash buckets the host's kernel calls for (buckets = max on Linux >= 5.15,
# max / 8 before). Timeouts shorter than the kernel's 5-day default free entries
# of idle connections sooner.
resource "conntrack_limits" "fleet" {
  for_each = var.hosts
  host     = each.value

  max     = data.conntrack_host.fleet[each.key].recommended_max
  buckets = data.conntrack_host.fleet[each.key].recommended_buckets

  tcp_timeout_established = 3600
  tcp_timeout_time_wait   = 30
  sysctls = {
    udp_timeout = 30
  }
}
