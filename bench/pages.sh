#!/usr/bin/env bash
# The dashboard pages' benchmark: each JSON page with 1,000,000 log rows against the same page
# on an empty log, in one run, on SQLite and PostgreSQL (127.0.0.1:5432, as the tests use).
#
#   bash bench/pages.sh
#   ROWS=200000 SAMPLES=10 BACKENDS=sqlite bash bench/pages.sh   # quicker
#
# A measurement, not a test: it prints a Markdown table (p50/p95 per endpoint, the ratio of
# the p50s, PASS/MISS against the 100 ms budget) and exits 0 either way. See bench/README.md.
# Settings: ROWS=1000000 SAMPLES=30 BACKENDS="sqlite postgres" PROFILE=release (or dev).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$(dirname "$HERE")"
PROFILE="${PROFILE:-release}"
flag=()
[ "$PROFILE" = release ] && flag=(--release)
export ROWS="${ROWS:-1000000}" SAMPLES="${SAMPLES:-30}" BACKENDS="${BACKENDS:-sqlite postgres}"
cargo run "${flag[@]}" -q -p switchyard --example pages_bench
