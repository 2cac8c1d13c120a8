# One shard: the hosts of one site (or role), with a state of its own. Copy
# this directory per shard; only hosts.json (and the backend key) differ.
terraform {
  required_providers {
    conntrack = {
      source = "conntrack-ops/conntrack"
    }
  }
  # A state per shard, so shards plan and apply in parallel without waiting
  # for each other's state lock, e.g.:
  # backend "s3" {
  #   bucket = "example-terraform-state"
  #   key    = "conntrack/site-a.tfstate"
  #   region = "eu-west-1"
  # }
}

variable "private_key_file" {
  type    = string
  default = "~/.ssh/id_ed25519"
}

variable "known_hosts_file" {
  type    = string
  default = "~/.ssh/known_hosts"
}

variable "size_from_memory" {
  type    = bool
  default = true
}

provider "conntrack" {
  private_key_file = var.private_key_file
  known_hosts_file = var.known_hosts_file
}

module "hosts" {
  source = "../../modules/conntrack-hosts"

  # The inventory of this shard, e.g. exported from the CMDB per site.
  hosts             = toset(jsondecode(file("${path.module}/hosts.json")))
  size_from_memory  = var.size_from_memory
  notrack_udp_ports = ["53"]
}

output "fill_percent" {
  value = module.hosts.fill_percent
}
