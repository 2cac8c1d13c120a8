# conntrack_notrack_rule is imported by host,ip_version,protocol,port,source,destination
# (empty fields for what the rule does not match). The direction is read from
# which rules the host holds.
terraform import 'conntrack_notrack_rule.dns["10.0.0.11"]' '10.0.0.11,4,udp,53,,'
