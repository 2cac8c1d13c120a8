# The demo of `make demo`: local namespace test hosts started by
# scripts/demo.sh stand in for a fleet, one group per remedy.
terraform {
  required_providers {
    conntrack = {
      source = "conntrack-ops/conntrack"
    }
  }
}

variable "hosts" {
  description = "Hosts that keep tracking, with higher limits and NOTRACK rules (remedies 2 and 3)."
  type        = set(string)
}

variable "firewall_off_hosts" {
  description = "Hosts whose firewall service is stopped (remedy 1)."
  type        = set(string)
  default     = []
}

variable "no_conntrack_hosts" {
  description = "Hosts where connection tracking is removed (remedy 4)."
  type        = set(string)
  default     = []
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
  for_each = setunion(var.hosts, var.firewall_off_hosts, var.no_conntrack_hosts)
  host     = each.value
}

# Remedy 1: stop the firewall, and keep it off at boot.
resource "conntrack_firewall_service" "off" {
  for_each = var.firewall_off_hosts
  host     = each.value

  enabled = false
  running = false
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

# Remedy 4: blacklist and disable the conntrack modules, and let the iptables
# service load none. (A namespace test host shares the machine's kernel, so
# nothing is unloaded here; on a real host add unload = true.)
resource "conntrack_module_blacklist" "off" {
  for_each = var.no_conntrack_hosts
  host     = each.value
}

resource "conntrack_iptables_config" "no_modules" {
  for_each = var.no_conntrack_hosts
  host     = each.value

  modules = ""
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
