#!/usr/bin/env bash
# The CLI matrix: the namespace-tier acceptance tests of internal/provider
# (real sshd test hosts driven by a real CLI) on OpenTofu (bin/tofu, built
# by setup) and on the machine's current Terraform (the first terraform on
# PATH that is not bin/terraform). make test runs the whole suite, kernel
# tier included, on Terraform 1.5.7; the kernel tier does not depend on the
# CLI and runs there only. Run as root, after make setup.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/bin

current=$(scripts/current-terraform.sh)
tfv=$("$current" version -json | sed -n 's/.*"terraform_version": *"\([^"]*\)".*/\1/p')
if ! "$bin/tofu" version >/dev/null 2>&1; then
	echo "test-matrix: bin/tofu is missing: run make setup first." >&2
	exit 1
fi

# Tests of what the host sees under faults and at random (the hostile-input
# corpus, config sequences, concurrent runs, fault injection, the host-side
# guard) do not depend on the CLI and run once, in make test: repeating them
# here would double their time in CI for nothing the matrix checks.
cli_independent='TestAccHostileInput|TestAccSequence_|TestAccConcurrentRuns|TestAccFault|TestAccGuard_'

# cli NAME PATH [ENV...]: one run of the namespace tier. -v output goes to a
# log so the provider-function tests can be shown to have run, not skipped.
run() {
	local name=$1 cli=$2 log
	shift 2
	log=$(mktemp)
	echo "test-matrix: $name ($("$cli" version | head -1)) at $cli"
	local start=$SECONDS status=0
	env TF_ACC=1 TF_ACC_TERRAFORM_PATH="$cli" CONNTRACK_SKIP_KERNEL_TESTS=1 "$@" \
		go test -count=1 -p 1 -parallel "${CONNTRACK_TEST_PARALLEL:-8}" -timeout 40m -v -skip "$cli_independent" ./internal/provider/ >"$log" 2>&1 || status=$?
	grep -E '^(--- FAIL|FAIL|ok|panic)' "$log" || true
	if ((status)); then
		grep -B2 -A30 -E '^\s*--- FAIL' "$log" | head -200
		echo "test-matrix: $name failed (full log: $log)" >&2
		exit 1
	fi
	if grep -E -e '--- SKIP: TestAccFunction' "$log"; then
		echo "test-matrix: $name skipped the provider-function tests (full log: $log)" >&2
		exit 1
	fi
	local ran
	ran=$(grep -c -E -e '--- PASS: TestAccFunction' "$log" || true)
	echo "test-matrix: $name passed in $((SECONDS - start)) s ($ran provider-function tests ran)"
	rm -f "$log"
}

run "OpenTofu" "$bin/tofu" TF_ACC_PROVIDER_HOST=registry.opentofu.org
run "Terraform $tfv" "$current"
