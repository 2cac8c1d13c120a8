variable "hosts" {
  type    = set(string)
  default = ["10.0.0.11", "10.0.0.12"]
}

# Remedy 1: stop the firewall so nothing is tracked, and keep it off at boot.
# With iptables-services' default IPTABLES_MODULES_UNLOAD="yes", stopping
# also unloads conntrack.
resource "conntrack_firewall_service" "off" {
  for_each = var.hosts
  host     = each.value

  services = ["iptables", "ip6tables"]
  enabled  = false
  running  = false
}
