# conntrack_nft_notrack_rule is imported by host,name; what the rule matches
# and its direction are read from the host (the running table, else its rules
# file).
terraform import 'conntrack_nft_notrack_rule.dns["10.0.0.21"]' '10.0.0.21,dns'
