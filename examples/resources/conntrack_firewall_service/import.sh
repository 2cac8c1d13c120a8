# conntrack_firewall_service is imported by host (services iptables and
# ip6tables, the default) or by host and services.
terraform import 'conntrack_firewall_service.off["10.0.0.11"]' 10.0.0.11
terraform import 'conntrack_firewall_service.off["10.0.0.12"]' 10.0.0.12,iptables,ip6tables,nftables
