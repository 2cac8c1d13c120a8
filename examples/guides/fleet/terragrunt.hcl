# With Terragrunt, a terragrunt.hcl in each shard directory and
# `terragrunt run-all plan` (or `apply`) from the fleet directory runs the
# shards in parallel; --terragrunt-parallelism bounds how many at once.
# This file sits at the fleet root; each shard's terragrunt.hcl holds
#   include "root" { path = find_in_parent_folders() }
remote_state {
  backend = "s3"
  config = {
    bucket = "example-terraform-state"
    key    = "conntrack/${path_relative_to_include()}.tfstate"
    region = "eu-west-1"
  }
  generate = {
    path      = "backend.tf"
    if_exists = "overwrite_terragrunt"
  }
}
