output "buckets" {
  value = provider::conntrack::recommended_buckets(262144) # 262144: buckets = max, as kernels >= 5.15 pair them
}
