#!/bin/sh
# bench/load.sh runs the load test of issue 6: plain Caddy `respond` against
# the same site behind stauth with a session cookie from a real login, driven
# by wrk, interleaved over several rounds. It prints requests per second for
# each, their ratio and the no-cookie figure, and keeps the summary in
# bench/results/ (git-ignored). Extra arguments go to the load tool, e.g.
#
#	bench/load.sh -rounds 5 -duration 5s
#
# CADDY_PROCESS=1 builds ./cmd/caddy into a temporary directory and runs Caddy
# as its own process instead of inside the load tool.
set -eu
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null 2>&1; then
	echo "wrk is not installed; install it with: apt-get install -y wrk" >&2
	exit 2
fi
mkdir -p bench/results
out="bench/results/load-$(date +%Y%m%d-%H%M%S).txt"
if [ "${CADDY_PROCESS:-}" = 1 ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	go build -o "$tmp/caddy" ./cmd/caddy
	set -- -caddy "$tmp/caddy" "$@"
fi
cd e2e
go run ./cmd/loadtest -out "../$out" "$@"
echo "summary kept in $out"
