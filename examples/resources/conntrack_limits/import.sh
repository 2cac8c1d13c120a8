# conntrack_limits is imported by host name or address. The import reads the
# running values; the next apply writes the declared ones to the files.
terraform import 'conntrack_limits.fleet["10.0.0.11"]' 10.0.0.11
