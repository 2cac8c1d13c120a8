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

# Before choosing a remedy: which firewall stack each host runs, and what
# fills its table (top 10 groups; the listening ports that dominate it).
data "conntrack_host" "diagnosis" {
  for_each = var.hosts

  host = each.value
  top  = 10
}

output "conntrack_diagnosis" {
  value = {
    for host, facts in data.conntrack_host.diagnosis : host => {
      iptables           = facts.firewall.iptables
      nftables_tables    = facts.firewall.nftables_tables
      firewalld_running  = facts.firewall.services["firewalld"].running
      top                = facts.table_summary == null ? [] : facts.table_summary.top
      notrack_candidates = facts.table_summary == null ? [] : facts.table_summary.notrack_candidates
    }
  }
}
