# Hosts someone already fixed by hand: adopt them without changing them.
variable "hosts" {
  type    = set(string)
  default = ["10.0.0.11", "10.0.0.12"]
}

data "conntrack_host" "fleet" {
  for_each = var.hosts
  host     = each.value
}

# Terraform >= 1.7 (OpenTofu >= 1.7): one import block for the whole fleet.
import {
  for_each = var.hosts
  to       = conntrack_limits.fleet[each.value]
  id       = each.value
}

resource "conntrack_limits" "fleet" {
  for_each = var.hosts
  host     = each.value
  # Declare what the hosts have now (the plan after import shows any
  # difference), then change it in a later, reviewed apply.
  max = data.conntrack_host.fleet[each.key].conntrack_max
}
