#!/usr/bin/env bash
# Builds OpenTofu into bin/tofu from its Go module (the Go module proxy is
# the only download the test machines allow), once: about four minutes on
# two cores, then cached in the ignored bin/ and checked by version.
set -euo pipefail
cd "$(dirname "$0")/.."

version=1.10.7
if bin/tofu version 2>/dev/null | grep -q "^OpenTofu v${version//./\\.}\$"; then
	exit 0
fi
echo "setup: building OpenTofu v$version into bin/ (once, about four minutes)"
dir=$(go mod download -json "github.com/opentofu/opentofu@v$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [ -z "$dir" ] || [ ! -d "$dir/cmd/tofu" ]; then
	echo "setup: go mod download github.com/opentofu/opentofu@v$version gave no module directory" >&2
	exit 1
fi
# The module zip carries no go.sum entries for some of its dependencies;
# -mod=mod lets the build resolve them through the proxy.
mkdir -p bin
# version.dev=no drops the "-dev" marker, as OpenTofu's release build does.
(cd "$dir" && GOFLAGS=-mod=mod go build -ldflags "-X github.com/opentofu/opentofu/version.dev=no" -o "$OLDPWD/bin/tofu.new" ./cmd/tofu)
mv bin/tofu.new bin/tofu
bin/tofu version | grep -q "^OpenTofu v${version//./\\.}\$" || { echo "setup: bin/tofu is not OpenTofu v$version:" >&2; bin/tofu version >&2; exit 1; }
