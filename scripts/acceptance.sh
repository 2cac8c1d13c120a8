#!/usr/bin/env bash
# The whole test suite with acceptance tests (TF_ACC=1, as root): what
# `make test` and `make testacc` run after their setup.
#
# Two tiers run side by side, each as its own `go test`:
#   kernel     the tests that boot qemu guests (names with _kernel, and
#              testhost's TestKernelHost*), as many at once as there are
#              kernel guest slots ($CONNTRACK_KERNEL_GUESTS, default 2: each
#              busy guest takes a core under software emulation). They are
#              the longest tests, so they start first, not whenever Go's
#              scheduler happens to pick them among a hundred others.
#   namespace  everything else, tests that own their hosts side by side
#              ($CONNTRACK_TEST_PARALLEL at once per package, default 8:
#              they mostly wait on guard windows, timers and the hosts).
# Each tier's output is prefixed with its name; the script fails if either
# tier fails, after both have finished.
set -euo pipefail
cd "$(dirname "$0")/.."

guests=${CONNTRACK_KERNEL_GUESTS:-2}
parallel=${CONNTRACK_TEST_PARALLEL:-8}
kernel='_kernel|^TestKernelHost'
export TF_ACC=1 CONNTRACK_KERNEL_GUESTS=$guests

tier() {
	local name=$1
	shift
	local start=$SECONDS status=0
	go test -count=1 -timeout 60m "$@" 2>&1 | sed -u "s/^/[$name] /" || status=$?
	echo "[$name] finished in $((SECONDS - start)) s, exit status $status"
	return "$status"
}

tier kernel -parallel "$guests" -run "$kernel" ./internal/provider/ ./internal/testhost/ &
kernel_pid=$!
namespace_status=0
tier namespace -parallel "$parallel" -skip "$kernel" ./... || namespace_status=$?
kernel_status=0
wait "$kernel_pid" || kernel_status=$?
if ((namespace_status || kernel_status)); then
	echo "acceptance: failed (namespace tier: exit $namespace_status, kernel tier: exit $kernel_status)" >&2
	exit 1
fi
