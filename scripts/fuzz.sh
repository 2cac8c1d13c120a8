#!/usr/bin/env bash
# Runs every Go fuzz target of the repository, one after the other, each
# for FUZZTIME (a go test -fuzztime value: 100000x, 3000x, 30s). The targets are
# found in the sources (func FuzzXxx(f *testing.F) in a _test.go file), so
# a new one joins without an edit here. make fuzz runs them in full, make
# test briefly (fuzz-smoke). A failing input is kept under the package's
# testdata/fuzz/<target>/ and replays with plain go test -run <target>.
#
# FUZZ_PARALLEL sets go test -parallel (the fuzzing workers), default 1:
# the machine is shared.
set -euo pipefail
cd "$(dirname "$0")/.."

time=${FUZZTIME:-100000x}
parallel=${FUZZ_PARALLEL:-1}

mapfile -t targets < <(grep -rHo --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' . |
	sed -E 's|^\./(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]+).*|\1 \2|' | sort -u)
if ((${#targets[@]} == 0)); then
	echo "fuzz.sh: no fuzz targets found" >&2
	exit 1
fi

start=$SECONDS
for t in "${targets[@]}"; do
	read -r dir name <<<"$t"
	echo "== $name ./$dir ($time)"
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$time" -parallel "$parallel" "./$dir"
done
echo "fuzz.sh: ${#targets[@]} targets, ${time} each, $((SECONDS - start)) s"
