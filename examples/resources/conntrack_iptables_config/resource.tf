variable "hosts" {
  type    = set(string)
  default = ["10.0.0.11", "10.0.0.12"]
}

# Keep the conntrack limits across firewall restarts on RHEL hosts with
# iptables-services: never unload the modules, and re-apply the conntrack
# sysctls after the service loads them.
resource "conntrack_iptables_config" "fleet" {
  for_each = var.hosts
  host     = each.value

  modules_unload   = false
  sysctl_load_list = ".nf_conntrack"
  save_on_stop     = false
}
