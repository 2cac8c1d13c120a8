terraform {
  required_providers {
    conntrack = {
      source = "conntrack-ops/conntrack"
    }
  }
}

provider "conntrack" {
  user             = "root"
  private_key_file = "~/.ssh/id_ed25519"
  known_hosts_file = "~/.ssh/known_hosts"
  connect_timeout  = "10s"
  sudo             = false

  # Reach hosts on a private network through a jump host.
  # bastion {
  #   host             = "bastion.example.com"
  #   user             = "jump"
  #   private_key_file = "~/.ssh/bastion_ed25519"
  # }
}
