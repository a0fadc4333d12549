#!/usr/bin/env bash
# Side-by-side benchmark (direct, bare JS Worker, Switchyard in workerd) and the native hot-path
# micro-benchmark. Not part of the test command; its figures go in the README.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
source scripts/env.sh
command -v wrk >/dev/null || { s=""; [ "$(id -u)" = 0 ] || s=sudo; $s apt-get update -qq && $s apt-get install -y -qq wrk >/dev/null; }
bash scripts/build-worker.sh >/dev/null 2>&1 || bash scripts/build-worker.sh
cargo bench -p switchyard-core --bench hot_path 2>/dev/null | grep "hot path"
node bench/compare.mjs "$@"
