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

failed=0
for entry in "${TARGETS[@]}"; do
	read -r pkg target <<<"$entry"
	if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$target"; then
		continue
	fi
	echo "== $pkg $target ($FUZZTIME)"
	# -fuzz needs a pattern matching exactly one target of the package.
	if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg"; then
		echo "FAIL: $pkg $target" >&2
		failed=1
		break
	fi
done
exit "$failed"
