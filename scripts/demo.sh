#!/usr/bin/env bash
# The demo: a local namespace test host, `terraform apply` on examples/demo
# against it, then live changes on the host shown by `terraform plan`.
# Run through `make demo` (which installs and builds first). Set KEEP=1 to
# leave the host running afterwards (remove it with `go run ./cmd/testhost down`).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
state=$root/.demo
work=$state/work
tf=$root/bin/terraform

go build -o "$state/testhost" ./cmd/testhost 2>/dev/null || { mkdir -p "$state"; go build -o "$state/testhost" ./cmd/testhost; }
"$state/testhost" up -dir "$state" -n 1
[ "${KEEP:-0}" = 1 ] || trap '"$state/testhost" down -dir "$state" >/dev/null' EXIT

host=$(sed -n 's/.*"addr": "\(.*\)".*/\1/p' "$state/hosts.json")
key=$(sed -n 's/.*"private_key_file": "\(.*\)".*/\1/p' "$state/hosts.json")

# Terraform uses the provider just built in bin/, whatever the machine's CLI
# configuration says.
cat > "$state/terraformrc" <<RC
provider_installation {
  dev_overrides {
    "registry.terraform.io/conntrack-ops/conntrack" = "$root/bin"
  }
  direct {}
}
RC
export TF_CLI_CONFIG_FILE=$state/terraformrc TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
rm -rf "$work" && mkdir -p "$work" && cp examples/demo/*.tf "$work/"
# The host is Debian-like: NOTRACK rules persist in iptables-persistent's file.
"$state/testhost" exec -dir "$state" -- mkdir -p /etc/iptables
cat > "$work/terraform.tfvars.json" <<JSON
{"hosts": ["$host"], "private_key_file": "$key", "known_hosts_file": "$state/known_hosts"}
JSON
cd "$work"

in_host() { "$state/testhost" exec -dir "$state" -- "$@"; }

echo; echo "== terraform apply: read the host's facts and converge its conntrack limits over SSH"
"$tf" apply -auto-approve -input=false
echo; echo "== on the host, /etc/sysctl.conf now ends with:"
in_host tail -n 3 /etc/sysctl.conf
echo; echo "== and the raw table holds the NOTRACK rules:"
in_host iptables -t raw -S

echo; echo "== drift: someone runs sysctl -w, flushes the raw table, and a few connections start tracking"
in_host "echo 432000 > /proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established; iptables -t raw -F; \
  iptables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT; \
  for i in 1 2 3 4 5; do timeout 2 ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null $host true 2>/dev/null; done; \
  echo tracked now: \$(cat /proc/sys/net/netfilter/nf_conntrack_count)"

echo; echo "== terraform plan: the live read shows the drift (exit code 2: changes)"
"$tf" plan -input=false -detailed-exitcode && exit 1 || [ $? -eq 2 ]

echo; echo "== terraform apply converges again; the next plan has no resource changes (only live facts move)"
"$tf" apply -auto-approve -input=false >/dev/null
"$tf" plan -input=false | tee "$state/last-plan.txt"
grep -q "0 to add, 0 to change, 0 to destroy\|No changes\|without changing any real infrastructure" "$state/last-plan.txt"
