#!/usr/bin/env bash
# Runs every fuzz target for FUZZTIME each (default 10s), one after the
# other, and fails on the first crash (the failing input is left under the
# package's testdata/fuzz/ for `go test` to replay). CI runs it briefly:
#   FUZZTIME=3s ./fuzz.sh
# Run a subset by naming targets: ./fuzz.sh FuzzParseMessageURL FuzzParse
set -euo pipefail
cd "$(dirname "$0")"
FUZZTIME="${FUZZTIME:-10s}"

# package target — listed explicitly, so a new target is added here on purpose.
TARGETS=(
	"./accesstoken FuzzParse"
	"./config FuzzParse"
	"./core FuzzParseFileName"
	"./remote FuzzParseUploadAnswer"
	"./remote FuzzReadError"
	"./remote FuzzParseRetryAfter"
	"./remote FuzzParseContentRange"
	"./remote FuzzValidUUID"
	"./remote FuzzParseMessageURL"
	"./remote FuzzParseSendAnswer"
)

# inputs DIR: how many saved inputs DIR holds (0 when it does not exist).
inputs() { if [ -d "$1" ]; then find "$1" -type f | wc -l; else echo 0; fi; }

failed=0
for entry in "${TARGETS[@]}"; do
	read -r pkg target <<<"$entry"
	if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$target"; then
		continue
	fi
	echo "== $pkg $target ($FUZZTIME)"
	# Go's fuzzing engine sometimes gives up on a worker that a loaded
	# machine left without an answer at the end of -fuzztime ("context
	# deadline exceeded"), with no failing input: that is tried once more.
	# A real crash always leaves its input under testdata/fuzz/.
	corpus="$pkg/testdata/fuzz/$target"
	for try in 1 2; do
		before=$(inputs "$corpus")
		log=$(mktemp)
		# -fuzz needs a pattern matching exactly one target of the package.
		if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg" 2>&1 | tee "$log"; then
			rm -f "$log"
			break
		fi
		after=$(inputs "$corpus")
		if [ "$try" = 1 ] && [ "$after" = "$before" ] && grep -q 'context deadline exceeded' "$log"; then
			echo "== $pkg $target: the fuzzing engine timed out with no failing input; once more"
			rm -f "$log"
			continue
		fi
		rm -f "$log"
		echo "FAIL: $pkg $target" >&2
		failed=1
		break 2
	done
done
exit "$failed"
