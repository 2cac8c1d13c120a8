#!/usr/bin/env bash
# Prints the path of the machine's current Terraform: the first terraform on
# PATH that is not bin/terraform (the 1.5.7 that make test uses), which must
# be 1.8 or newer (provider functions). Fails, with a message saying what to
# install, where there is none: make test-matrix and make docs need it.
set -euo pipefail
cd "$(dirname "$0")/.."
pinned=$(readlink -f bin/terraform 2>/dev/null || true)
while read -r t; do
	[ "$(readlink -f "$t")" = "$pinned" ] && continue
	v=$("$t" version -json 2>/dev/null | sed -n 's/.*"terraform_version": *"\([^"]*\)".*/\1/p')
	case "$v" in
	1.[0-7].* | 0.* | "")
		echo "current-terraform: $t is Terraform ${v:-of unknown version}; provider functions need 1.8 or newer." >&2
		exit 1
		;;
	esac
	echo "$t"
	exit 0
done < <(type -ap terraform)
echo "current-terraform: no Terraform on PATH besides bin/terraform (1.5.7); install Terraform >= 1.8 outside bin/ (the CI image has 1.11.4 in /usr/local/bin)." >&2
exit 1
