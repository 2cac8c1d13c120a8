variable "hosts" {
  type    = set(string)
  default = ["10.0.0.11", "10.0.0.12"]
}

# A busy DNS resolver: its UDP queries and answers need no connection
# tracking, and tracking them is what fills the table.
resource "conntrack_notrack_rule" "dns" {
  for_each = var.hosts
  host     = each.value

  protocol = "udp"
  port     = "53"
  comment  = "dns resolver"

  # Untracked packets match neither NEW nor ESTABLISHED: let the filter
  # table accept them before any DROP.
  ensure_untracked_accept = true
}

# Memcached on a private network only, over IPv6.
resource "conntrack_notrack_rule" "memcached" {
  for_each = var.hosts
  host     = each.value

  ip_version       = 6
  protocol         = "tcp"
  port             = "11211"
  source           = "fd00::/8"
  chains           = ["PREROUTING", "OUTPUT"]
  target           = "CT"
  rollback_timeout = 60
}

# A router or NAT gateway that forwards DNS between its LAN and the
# resolvers upstream: queries and answers both pass PREROUTING, so both
# rules go there (--dport 53 and --sport 53). The forwarded packets reach
# the filter table's FORWARD chain untracked: accept them there.
resource "conntrack_notrack_rule" "forwarded_dns" {
  for_each = var.hosts
  host     = each.value

  protocol                = "udp"
  port                    = "53"
  direction               = "forward"
  comment                 = "forwarded dns"
  ensure_untracked_accept = true
}
