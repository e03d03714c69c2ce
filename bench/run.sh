#!/bin/sh
# petrel benchmark: throughput, CPU per message, memory per idle session and
# end-of-DATA latency, for petrel and (when installed, as root) a private
# Postfix instance in the same run. Prints a table and writes it to
# bench/results-latest.txt. See bench/README.md.
#
# Usage: bench/run.sh [PETREL_BINARY] [bench.py options...]
#   e.g. bench/run.sh build/release/petrel --messages 2000 --idle 1000
#        bench/run.sh build/release/petrel --no-postfix
# BENCH_TIMEOUT (seconds, default 2400) bounds the whole run.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
petrel=${1:-$root/build/release/petrel}
[ $# -gt 0 ] && shift
case "$petrel" in /*) ;; *) petrel=$(pwd)/$petrel ;; esac
[ -x "$petrel" ] || { echo "bench: $petrel is not an executable (make build)" >&2; exit 2; }
py=/usr/bin/python3
[ -x "$py" ] || py=python3

command -v smtp-source >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
command -v smtp-source >/dev/null 2>&1 ||
    { echo "bench: smtp-source missing: run tools/deps.sh bench" >&2; exit 2; }

# As root petrel drops privileges to these users (tools/deps.sh makes them).
if [ "$(id -u)" = 0 ] && ! getent passwd petrel-queue >/dev/null; then
	"$root/tools/deps.sh" build
fi

# The idle-session test holds 5000 sockets on the client side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge 12000 ] ||
    echo "bench: warning: ulimit -n is $(ulimit -n); the 5000-session test may fail" >&2

tmp=$(mktemp -d "${TMPDIR:-/tmp}/petrel-bench.XXXXXX")
chmod 0755 "$tmp"          # the servers' unprivileged users must traverse it

cleanup() {
	rc=$?
	trap - EXIT INT TERM HUP
	# bench.py and relay.py stop their servers themselves; this is the
	# fallback after a kill (relay.py's servers live in $tmp/relay).
	for d in "$tmp" "$tmp/relay"; do
		if [ -f "$d/petrel.pid" ]; then
			pid=$(cat "$d/petrel.pid")
			if kill -0 "$pid" 2>/dev/null; then
				kids=$(ps -o pid= --ppid "$pid" 2>/dev/null || true)
				kill -TERM "$pid" 2>/dev/null || true
				i=0
				while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.2; i=$((i+1)); done
				kill -KILL "$pid" $kids 2>/dev/null || true
			fi
		fi
		if [ -f "$d/postfix.pid" ] && [ -d "$d/postfix/etc" ]; then
			pid=$(cat "$d/postfix.pid")
			if kill -0 "$pid" 2>/dev/null; then
				kids=$(ps -o pid= --ppid "$pid" 2>/dev/null || true)
				timeout 30 postfix -c "$d/postfix/etc" stop >/dev/null 2>&1 || true
				i=0
				while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.2; i=$((i+1)); done
				kill -KILL "$pid" $kids 2>/dev/null || true
			fi
		fi
		[ -f "$d/sink.pid" ] && kill -KILL "$(cat "$d/sink.pid")" 2>/dev/null || true
	done
	rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT

# The driver runs in the background so that a signal to this script is
# handled at once: it is passed on (bench.py then stops its servers) and
# the EXIT trap removes whatever is left.
set +e
timeout -k 30 "${BENCH_TIMEOUT:-2400}" "$py" "$here/bench.py" \
    --petrel "$petrel" --tmp "$tmp" --out "$here/results-latest.txt" "$@" &
child=$!
trap 'kill -TERM $child 2>/dev/null' INT TERM HUP
while :; do
	wait $child
	rc=$?
	kill -0 $child 2>/dev/null || break
done
[ $rc -eq 124 ] && echo "bench: timed out after ${BENCH_TIMEOUT:-2400}s" >&2
[ $rc -eq 0 ] || exit $rc

# Outbound: relay through the remote process to smtp-sink (bench/relay.py),
# appended to results-latest.txt.
relay_opts=""
for o in "$@"; do [ "$o" = --no-postfix ] && relay_opts="--no-postfix"; done
timeout -k 30 "${BENCH_TIMEOUT:-2400}" "$py" "$here/relay.py" \
    --petrel "$petrel" --tmp "$tmp" --out "$here/results-latest.txt" \
    $relay_opts &
child=$!
while :; do
	wait $child
	rc=$?
	kill -0 $child 2>/dev/null || break
done
set -e
[ $rc -eq 124 ] && echo "bench: relay timed out" >&2
exit $rc
