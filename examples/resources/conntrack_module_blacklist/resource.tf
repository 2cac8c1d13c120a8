variable "hosts" {
  type    = set(string)
  default = ["10.0.0.11", "10.0.0.12"]
}

# Remedy 4: no connection tracking at all. Blacklist and disable the
# conntrack family, and unload it now. The plan fails, listing the holders,
# while stateful, NAT or CT rules still use the modules.
resource "conntrack_module_blacklist" "fleet" {
  for_each = var.hosts
  host     = each.value

  unload            = true
  rebuild_initramfs = true
}
