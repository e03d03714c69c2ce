#!/bin/sh
# Runs every libFuzzer target in BUILD_DIR for SECONDS each, starting from a
# scratch copy of its committed corpus (new finds stay out of the tree).
set -eu
dir=$1
secs=${2:-20}
top=$(cd "$(dirname "$0")/../.." && pwd)
for f in "$dir"/fuzz_*; do
	[ -x "$f" ] || continue
	name=$(basename "$f" | sed 's/^fuzz_//')
	work=$(mktemp -d)
	cp -r "$top/tests/fuzz/corpus/$name/." "$work/" 2>/dev/null || true
	echo "fuzz: $name for ${secs}s"
	"$f" -max_total_time="$secs" -print_final_stats=0 "$work" \
	    >"$work.log" 2>&1 || { tail -50 "$work.log"; exit 1; }
	rm -rf "$work" "$work.log"
done
echo "fuzz: all targets ran clean"
