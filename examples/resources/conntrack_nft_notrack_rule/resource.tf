variable "nft_hosts" {
  type    = set(string)
  default = ["10.0.0.21", "10.0.0.22"]
}

# A busy DNS resolver on hosts that run nftables (or firewalld on
# nftables): its UDP queries and answers skip connection tracking.
resource "conntrack_nft_notrack_rule" "dns" {
  for_each = var.nft_hosts
  host     = each.value

  name     = "dns"
  protocol = "udp"
  port     = "53"
}

# Memcached, from a private IPv6 network only, on arrival only.
resource "conntrack_nft_notrack_rule" "memcached" {
  for_each = var.nft_hosts
  host     = each.value

  name             = "memcached"
  protocol         = "tcp"
  port             = "11211"
  source           = "fd00::/8"
  chains           = ["prerouting"]
  rollback_timeout = 60
}

# A recursive resolver asks authoritative servers on port 53: it is their
# client, so output matches the destination port and prerouting the source
# port of the answers.
resource "conntrack_nft_notrack_rule" "dns_upstream" {
  for_each = var.nft_hosts
  host     = each.value

  name      = "dns_upstream"
  protocol  = "udp"
  port      = "53"
  direction = "client"
}
