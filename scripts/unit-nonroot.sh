#!/usr/bin/env bash
# `make unit` as a user without root, as a contributor without root runs it:
# from a vendored copy of the committed tree (no module download, no access
# to root's module cache) in the home of an unprivileged account made for
# it (ctt-unit). Run as root; CI runs it after make test.
set -euo pipefail
cd "$(dirname "$0")/.."
user=ctt-unit
id -u "$user" >/dev/null 2>&1 || useradd -m -s /bin/bash "$user"
home=$(getent passwd "$user" | cut -d: -f6)
copy=$home/terraform-provider-conntrack
rm -rf "$copy"
mkdir -p "$copy"
git archive HEAD | tar -x -C "$copy"
(cd "$copy" && go mod vendor)
# The Terraform that make test drives, where setup built it (else make unit
# takes the one on PATH).
if [[ -x bin/terraform ]]; then
	mkdir -p "$copy/bin" && cp bin/terraform "$copy/bin/"
fi
chown -R "$user:" "$copy"
go=$(command -v go)
start=$SECONDS
su - "$user" -c "cd $(printf %q "$copy") && PATH=$(printf %q "$(dirname "$go")"):\$PATH GOFLAGS=-mod=vendor GOTOOLCHAIN=local make unit"
echo "unit-nonroot: make unit passed as $user in $((SECONDS - start)) s"
