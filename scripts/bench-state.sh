#!/usr/bin/env bash
# Load test of the shared state: the same Worker in local workerd with the router-state Durable
# Objects on and off (interleaved), and the cost of a Durable Object round trip. Not part of the
# test command: it takes about two minutes and its figures go in the README.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
source scripts/env.sh
command -v wrk >/dev/null || { sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd=sudo; $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq wrk >/dev/null; }
bash scripts/build-worker.sh >/dev/null 2>&1 || bash scripts/build-worker.sh
node bench/state-load.mjs "$@"
