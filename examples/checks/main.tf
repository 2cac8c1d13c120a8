# Conntrack health in every plan: a check block on conntrack_host warns
# (never fails) when a table is nearly full or its drop counters grew since
# the last apply. Configure the provider as usual.
# 75% is the threshold of the common Prometheus alert
# (NodeHighNumberConntrackEntriesUsed in node-mixin / kubernetes-mixin).

variable "hosts" {
  description = "Hosts to watch, by name."
  type        = map(object({ host = string, port = optional(number, 22) }))
}

variable "fill_warn_percent" {
  description = "Warn when a table is at least this full."
  type        = number
  default     = 75
}

data "conntrack_host" "fleet" {
  for_each = var.hosts
  host     = each.value.host
  port     = each.value.port
}

locals {
  # Kernel counters since boot that mean lost connections for want of
  # room: a full table (drop, early_drop) or too few buckets (chaintoolong,
  # null on kernels before 5.15). Null stats (conntrack not active) count as
  # 0. insert_failed is left out: it also grows from UDP clash races with
  # room to spare.
  counters = {
    for name, h in data.conntrack_host.fleet : name => {
      drop         = try(h.stats.drop, 0)
      early_drop   = try(h.stats.early_drop, 0)
      chaintoolong = coalesce(try(h.stats.chaintoolong, 0), 0)
    }
  }
}

# The counters at the last apply, the baseline every plan compares with
# (a counter the baseline lacks, taken by an older recipe, counts as no growth).
# ignore_changes keeps it still; take a new baseline once the cause is fixed:
#   terraform apply -replace='terraform_data.conntrack_baseline["web1"]'
resource "terraform_data" "conntrack_baseline" {
  for_each = local.counters
  input    = each.value

  lifecycle {
    ignore_changes = [input]
  }
}

check "conntrack_health" {
  assert {
    condition = alltrue([for name, h in data.conntrack_host.fleet : coalesce(h.fill_percent, 0) < var.fill_warn_percent])
    error_message = format("Conntrack tables at least %d%% full: %s. Raise the limits or stop tracking what needs no tracking.",
      var.fill_warn_percent, join(", ", [
        for name, h in data.conntrack_host.fleet : "${name} ${h.fill_percent}% of ${h.conntrack_max}"
        if coalesce(h.fill_percent, 0) >= var.fill_warn_percent
    ]))
  }

  assert {
    condition = alltrue([
      for name, c in local.counters : alltrue([
        for k, v in c : v <= try(terraform_data.conntrack_baseline[name].output[k], v)
      ]) if contains(keys(terraform_data.conntrack_baseline), name)
    ])
    error_message = format("Conntrack counters grew since the last apply (a full table or too few buckets drops connections): %s.", join(", ", flatten([
      for name, c in local.counters : [
        for k, v in c : "${name} ${k} +${v - terraform_data.conntrack_baseline[name].output[k]}"
        if v > try(terraform_data.conntrack_baseline[name].output[k], v)
      ] if contains(keys(terraform_data.conntrack_baseline), name)
    ])))
  }
}
