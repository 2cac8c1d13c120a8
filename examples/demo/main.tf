# The demo of `make demo`: local namespace test hosts started by
# scripts/demo.sh stand in for a fleet. Later resources extend it.
terraform {
  required_providers {
    conntrack = {
      source = "conntrack-ops/conntrack"
    }
  }
}

variable "hosts" {
  description = "Addresses of the hosts to inspect."
  type        = set(string)
}

variable "private_key_file" {
  type = string
}

variable "known_hosts_file" {
  type = string
}

provider "conntrack" {
  private_key_file = var.private_key_file
  known_hosts_file = var.known_hosts_file
}

data "conntrack_host" "fleet" {
  for_each = var.hosts
  host     = each.value
}

# Remedy 2: shorter timeouts free entries of idle connections sooner. (A
# namespace test host cannot change the global max and buckets; on a real
# host add max = data.conntrack_host.fleet[each.key].recommended_max.)
resource "conntrack_limits" "fleet" {
  for_each = var.hosts
  host     = each.value

  tcp_timeout_established = 3600
  tcp_timeout_time_wait   = 30
  sysctls = {
    udp_timeout = 30
  }
}

# Remedy 3: DNS traffic skips connection tracking altogether.
resource "conntrack_notrack_rule" "dns" {
  for_each = var.hosts
  host     = each.value

  protocol = "udp"
  port     = "53"
  comment  = "demo dns"
}

output "facts" {
  description = "What each host's kernel says, read live over SSH."
  value = {
    for host, h in data.conntrack_host.fleet : host => {
      kernel           = h.kernel_release
      memory_gib       = floor(h.memory_bytes / 1073741824)
      initial_netns    = h.initial_netns
      conntrack_module = h.conntrack_module
      conntrack_count  = h.conntrack_count
      conntrack_max    = h.conntrack_max
      fill_percent     = h.fill_percent
      recommended_max  = h.recommended_max
      drops            = h.stats.drop
    }
  }
}
