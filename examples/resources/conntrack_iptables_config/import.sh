# conntrack_iptables_config is imported by host (IPv4, /etc/sysconfig/iptables-config)
# or host,6 (IPv6, /etc/sysconfig/ip6tables-config).
terraform import 'conntrack_iptables_config.fleet["10.0.0.11"]' 10.0.0.11
