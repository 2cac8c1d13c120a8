#!/usr/bin/env bash
# Installs what a target needs on a fresh Debian 12 machine, and nothing
# else: each make target asks only for its part. Idempotent: a second run
# installs nothing.
#
#   scripts/setup.sh           the test hosts' Debian packages and Terraform
#                              1.5.7, which the tests drive (run as root)
#   scripts/setup.sh demo      what `make demo` needs: the packages, and
#                              Terraform 1.5.7 only where no Terraform >= 1.5
#                              is on PATH (run as root)
#   scripts/setup.sh tools     the Go tools `make lint` runs (no root needed)
#   scripts/setup.sh opentofu  OpenTofu, for `make test-matrix` (no root needed)
set -euo pipefail
cd "$(dirname "$0")/.."

# retry CMD... runs a command that downloads through the Go module proxy up
# to three times: a TLS handshake timeout to the proxy (seen here on a loaded
# machine) must not fail a fresh machine's whole run. Whatever was already
# downloaded stays in the module cache.
retry() {
	local attempt
	for attempt in 1 2 3; do
		"$@" && return 0
		echo "setup: attempt $attempt of 3 failed: $*" >&2
		sleep $((attempt * 10))
	done
	return 1
}

# build_tool NAME DIR MODULE PACKAGE builds PACKAGE, pinned by the module in
# DIR, into bin/NAME unless bin/NAME already is that module version built by
# this Go toolchain. Each tool's module is its own (see DECISIONS.md), so it
# is built with exactly the dependencies its release was tested with.
build_tool() {
	local name=$1 dir=$2 module=$3 pkg=$4 want have built_with
	want=$(cd "$dir" && retry go list -m -f '{{.Version}}' "$module")
	have=$(go version -m "bin/$name" 2>/dev/null | awk -v m="$module" '($1 == "mod" || $1 == "dep") && $2 == m { print $3 }') || true
	built_with=$(go version "bin/$name" 2>/dev/null | awk '{ print $2 }') || true
	if [[ $have == "$want" && $built_with == "$(go env GOVERSION)" ]]; then
		return
	fi
	echo "setup: building $name $want into bin/ (once)"
	local start=$SECONDS
	(cd "$dir" && retry nice -n 10 go build -ldflags "-X main.version=${want#v}" -o "$OLDPWD/bin/$name" "$pkg")
	echo "setup: built $name $want in $((SECONDS - start)) s"
}

go_tools() {
	mkdir -p bin
	# golangci-lint v2, cold build cache: 7 CPU-minutes (measured: 38 min of
	# wall time while five other builds shared the 2 cores; about 4 min alone).
	build_tool golangci-lint tools/lint github.com/golangci/golangci-lint/v2 github.com/golangci/golangci-lint/v2/cmd/golangci-lint
	# goreleaser v2, for `goreleaser check` of .goreleaser.yml: 12 CPU-minutes
	# (measured: 58 min of wall time on the same shared cores; about 6 min alone).
	build_tool goreleaser tools/release github.com/goreleaser/goreleaser/v2 github.com/goreleaser/goreleaser/v2
}

case ${1-} in
tools)
	go_tools
	exit 0
	;;
opentofu)
	retry scripts/opentofu.sh
	exit 0
	;;
"" | demo) ;;
*)
	echo "usage: scripts/setup.sh [demo|tools|opentofu]" >&2
	exit 2
	;;
esac

packages=(openssh-server openssh-client iptables nftables kmod iproute2 sudo util-linux passwd coreutils diffutils busybox)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "setup: installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The demo runs with any Terraform >= 1.5 the machine has (the CI image has
# 1.11.4): building one would be most of a fresh machine's demo time.
if [[ ${1-} == demo ]] && scripts/terraform-path.sh >/dev/null 2>&1; then
	exit 0
fi

# Terraform v1.5.7, the last MPL release, built from source through the Go
# module proxy (about two minutes, once) and cached in the ignored bin/.
if ! bin/terraform version 2>/dev/null | grep -q '^Terraform v1\.5\.7$'; then
	echo "setup: building Terraform v1.5.7 into bin/ (once, about two minutes)"
	GOBIN="$PWD/bin" retry go install github.com/hashicorp/terraform@v1.5.7
fi
