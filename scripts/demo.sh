#!/usr/bin/env bash
# The demo: three local namespace test hosts, one per group of remedies
# (2+3, 1, 4), `terraform apply` on examples/demo against them, then live
# changes on the hosts shown by `terraform plan`.
# Run through `make demo` (which installs and builds first). Set KEEP=1 to
# leave the host running afterwards (remove it with `go run ./cmd/testhost down`).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
state=$root/.demo
work=$state/work
tf=$(scripts/terraform-path.sh)

go build -o "$state/testhost" ./cmd/testhost 2>/dev/null || { mkdir -p "$state"; go build -o "$state/testhost" ./cmd/testhost; }
"$state/testhost" up -dir "$state" -n 3
[ "${KEEP:-0}" = 1 ] || trap '"$state/testhost" down -dir "$state" >/dev/null' EXIT

addrs=($(sed -n 's/.*"addr": "\(.*\)".*/\1/p' "$state/hosts.json"))
host=${addrs[0]} firewall_host=${addrs[1]} blacklist_host=${addrs[2]}
key=$(sed -n 's/.*"private_key_file": "\(.*\)".*/\1/p' "$state/hosts.json" | head -n1)

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
# Host 0 is Debian-like: NOTRACK rules persist in iptables-persistent's file.
"$state/testhost" exec -dir "$state" -- mkdir -p /etc/iptables
# Host 1 runs a stateful firewall (RHEL's iptables service, SysV); host 2
# has the iptables service's config file.
"$state/testhost" firewall -dir "$state" -i 1
"$state/testhost" exec -dir "$state" -i 2 -- "mkdir -p /etc/sysconfig && printf 'IPTABLES_MODULES=\"nf_conntrack_ftp\"\n' > /etc/sysconfig/iptables-config"
cat > "$work/terraform.tfvars.json" <<JSON
{"hosts": ["$host"], "firewall_off_hosts": ["$firewall_host"], "no_conntrack_hosts": ["$blacklist_host"],
 "private_key_file": "$key", "known_hosts_file": "$state/known_hosts"}
JSON
cd "$work"

in_host() { "$state/testhost" exec -dir "$state" -- "$@"; }
in_firewall_host() { "$state/testhost" exec -dir "$state" -i 1 -- "$@"; }
in_blacklist_host() { "$state/testhost" exec -dir "$state" -i 2 -- "$@"; }

echo; echo "== before: host 1's firewall runs and tracks (remedy 1 will stop it)"
in_firewall_host "ls /var/lock/subsys; iptables -S INPUT"

echo; echo "== terraform apply: read the host's facts and converge its conntrack limits over SSH"
"$tf" apply -auto-approve -input=false
echo; echo "== on the host, /etc/sysctl.conf now ends with:"
in_host tail -n 3 /etc/sysctl.conf
echo; echo "== and the raw table holds the NOTRACK rules:"
in_host iptables -t raw -S
echo; echo "== host 1: the firewall is stopped (rules flushed) and off at boot:"
in_firewall_host "ls /var/lock/subsys; iptables -S INPUT; ls /etc/rc2.d | grep tables"
echo; echo "== host 2: conntrack is blacklisted and disabled, and the iptables service loads no module:"
in_blacklist_host "tail -n 4 /etc/modprobe.d/blacklist.conf; cat /etc/sysconfig/iptables-config"

echo; echo "== drift: someone starts host 1's firewall again and removes a line of host 2's blacklist"
in_firewall_host service iptables start
in_blacklist_host "sed -i '/^install nf_conntrack /d' /etc/modprobe.d/blacklist.conf"

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
