#!/usr/bin/env bash
# Installs everything the tests, the demo and the benchmark need on a fresh
# Debian 12 machine (run as root). Idempotent: a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(openssh-server openssh-client iptables kmod iproute2 sudo util-linux passwd coreutils diffutils busybox)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "setup: installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Terraform v1.5.7, the last MPL release, built from source through the Go
# module proxy (about two minutes, once) and cached in the ignored bin/.
if ! bin/terraform version 2>/dev/null | grep -q '^Terraform v1\.5\.7$'; then
	echo "setup: building Terraform v1.5.7 into bin/ (once, about two minutes)"
	GOBIN="$PWD/bin" go install github.com/hashicorp/terraform@v1.5.7
fi

# OpenTofu for make test-matrix, built the same way from its Go module.
scripts/opentofu.sh
