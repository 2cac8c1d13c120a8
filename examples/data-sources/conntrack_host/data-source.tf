variable "hosts" {
  description = "Addresses of the hosts to inspect."
  type        = set(string)
  default     = ["10.0.0.11", "10.0.0.12"]
}

# Read the conntrack table of every host in the fleet.
data "conntrack_host" "fleet" {
  for_each = var.hosts

  host = each.value
}

# Current fill and the recommended table size, keyed by host.
output "conntrack_fill" {
  value = {
    for host, facts in data.conntrack_host.fleet : host => {
      fill_percent    = facts.fill_percent
      conntrack_max   = facts.conntrack_max
      recommended_max = facts.recommended_max
    }
  }
}
