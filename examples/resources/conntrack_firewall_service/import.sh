# conntrack_firewall_service is imported by host; the services are then
# iptables and ip6tables, as by default.
terraform import 'conntrack_firewall_service.off["10.0.0.11"]' 10.0.0.11
