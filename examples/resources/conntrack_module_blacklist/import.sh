# conntrack_module_blacklist is imported by host; the modules are those of the
# classic conntrack family that /etc/modprobe.d/blacklist.conf blacklists.
terraform import 'conntrack_module_blacklist.fleet["10.0.0.11"]' 10.0.0.11
