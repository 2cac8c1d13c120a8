output "buckets" {
  value = provider::conntrack::recommended_buckets(262144) # 32768
}
