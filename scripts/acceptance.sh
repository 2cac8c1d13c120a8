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
#              they mostly wait on guard windows, timers and the hosts), at
#              a lower CPU priority (nice 5) than the guests: a guest
#              starved of CPU misses its boot timeout or a command's, while
#              a namespace test only waits a little longer.
# Each tier prints every test's result (prefixed with the tier; go test
# prints a package's lines when the package ends, unless it is the only one
# running)
# and, when it fails, the output of its failed tests; the whole verbose log
# stays in $CONNTRACK_TEST_LOGS (default a new directory under /tmp). The
# script fails if either tier fails, after both have finished.
set -euo pipefail
cd "$(dirname "$0")/.."

guests=${CONNTRACK_KERNEL_GUESTS:-2}
parallel=${CONNTRACK_TEST_PARALLEL:-8}
logs=${CONNTRACK_TEST_LOGS:-$(mktemp -d /tmp/conntrack-tests.XXXXXX)}
kernel='_kernel|^TestKernelHost'
export TF_ACC=1 CONNTRACK_KERNEL_GUESTS=$guests
mkdir -p "$logs"
echo "acceptance: verbose logs in $logs"

# failedOutput prints, from a `go test -v` log, the lines of every test that
# failed (parallel tests interleave: "=== NAME/CONT/RUN T" says whose lines
# follow).
failedOutput() {
	awk '
		/^=== (RUN|CONT|NAME|PAUSE)/ { cur = $3; next }
		/^ *--- FAIL: / { failed[$3] = 1 }
		{ lines[++n] = $0; owner[n] = cur }
		END { for (i = 1; i <= n; i++) if (owner[i] in failed || lines[i] ~ /^(FAIL|panic:|ok )/) print lines[i] }
	' "$1"
}

# tier NAME NICENESS GO-TEST-ARGS... runs one tier.
tier() {
	local name=$1 niceness=$2 log=$logs/$1.log start=$SECONDS status=0
	shift 2
	nice -n "$niceness" go test -v -count=1 -timeout 60m "$@" >"$log" 2>&1 &
	local pid=$!
	tail -n +1 -F --pid="$pid" "$log" 2>/dev/null |
		grep --line-buffered -E '^(--- (PASS|FAIL|SKIP)|ok |FAIL|panic:)' | sed -u "s/^/[$name] /" &
	local printer=$!
	wait "$pid" || status=$?
	# Only this tier's printer: a bare wait would also wait for the other
	# tier, which runs in the background of the same shell.
	wait "$printer" || true
	if ((status)); then
		echo "[$name] output of the failed tests:"
		failedOutput "$log" | sed "s/^/[$name] /"
	fi
	echo "[$name] finished in $((SECONDS - start)) s, exit status $status"
	return "$status"
}

# failedNames prints the tests and packages a tier's log says failed, and
# the seeds that replay them, on one line: CI shows only the end of the
# output, so the script ends with them.
failedNames() {
	local log=$logs/$1.log
	{
		grep -E '^(\s*--- FAIL: |FAIL\s|panic: )' "$log" | sed -E 's/^\s*--- FAIL: ([^ ]+).*/\1/; s/^FAIL\s+([^ \t]+).*/package \1/' | sort -u
		failedOutput "$log" | grep -oE 'CONNTRACK_[A-Z_]*SEED=[0-9]+' | sort -u
	} | paste -sd ' '
}

tier kernel 0 -parallel "$guests" -run "$kernel" ./internal/provider/ ./internal/testhost/ &
kernel_pid=$!
namespace_status=0
tier namespace 5 -parallel "$parallel" -skip "$kernel" ./... || namespace_status=$?
kernel_status=0
wait "$kernel_pid" || kernel_status=$?
if ((namespace_status || kernel_status)); then
	((namespace_status)) && echo "acceptance: namespace tier failed: $(failedNames namespace)" >&2
	((kernel_status)) && echo "acceptance: kernel tier failed: $(failedNames kernel)" >&2
	echo "acceptance: failed (namespace tier: exit $namespace_status, kernel tier: exit $kernel_status)" >&2
	exit 1
fi
