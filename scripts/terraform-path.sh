#!/usr/bin/env bash
# Prints the Terraform that the demo and `make unit` run: bin/terraform
# (1.5.7, what make test drives) when setup built it, else the first
# terraform on PATH, which must be 1.5 or newer. Fails where there is none
# (scripts/setup.sh demo then builds bin/terraform).
set -euo pipefail
cd "$(dirname "$0")/.."
for t in "$PWD/bin/terraform" $(type -ap terraform); do
	[ -x "$t" ] || continue
	v=$("$t" version -json 2>/dev/null | sed -n 's/.*"terraform_version": *"\([^"]*\)".*/\1/p')
	case "$v" in
	1.[0-4].* | 0.* | "") continue ;;
	esac
	echo "$t"
	exit 0
done
echo "terraform-path: no Terraform >= 1.5 in bin/ or on PATH" >&2
exit 1
