#!/usr/bin/env bash
# A new user's first hour, reproduced: a fresh clone of HEAD in a scratch
# directory with empty caches (Go build and module caches, the kernel image
# directory, bin/), then the README's two commands, `make demo` and `.ci/run`
# (make test and the rest of CI), each timed. What it cannot empty is the
# machine itself: Debian packages already installed stay installed.
#
# Usage: scripts/ci-fresh.sh [SCRATCH]   (as root; SCRATCH defaults to a new
# directory under /var/tmp; at the end only its logs stay, unless KEEP=1
# keeps the clone and the caches too)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
scratch=${1:-$(mktemp -d /var/tmp/ctt-fresh.XXXXXX)}
mkdir -p "$scratch"
cleanup() {
	local status=$?
	set +e
	if [[ ${KEEP:-0} != 1 ]]; then
		# The module cache is read-only by design.
		chmod -R u+w "$scratch" 2>/dev/null
		rm -rf --one-file-system "$scratch"/{repo,go-build,go-mod,kernel-host}
	fi
	echo "ci-fresh: logs in $scratch"
	exit "$status"
}
trap cleanup EXIT

git clone -q "$src" "$scratch/repo"
export GOCACHE=$scratch/go-build GOMODCACHE=$scratch/go-mod \
	CONNTRACK_KERNEL_HOST_DIR=$scratch/kernel-host
unset TF_CLI_CONFIG_FILE TF_ACC_TERRAFORM_PATH
export CONNTRACK_TEST_LOGS=$scratch/tests
# Nothing built in this work tree may stand in for what the clone builds.
PATH=$(tr ':' '\n' <<<"$PATH" | grep -vxF "$src/bin" | paste -sd:)
cd "$scratch/repo"
echo "ci-fresh: $(git rev-parse --short HEAD) in $scratch (logs: $scratch/*.log)"

step() {
	local name=$1 start=$SECONDS status=0
	shift
	"$@" >"$scratch/$name.log" 2>&1 || status=$?
	echo "ci-fresh: $name: exit $status in $((SECONDS - start)) s"
	if ((status)); then
		tail -n 40 "$scratch/$name.log"
		exit "$status"
	fi
}
step demo make demo
step ci .ci/run
left=$(find "$CONNTRACK_KERNEL_HOST_DIR" -mindepth 1 -maxdepth 1 -name '.build.*')
if [[ -n $left ]]; then
	echo "ci-fresh: the image build left $left behind" >&2
	exit 1
fi
grep -F " $scratch/" /proc/mounts && { echo "ci-fresh: mounts left under $scratch" >&2; exit 1; }
echo "ci-fresh: passed"
