#!/usr/bin/env bash
# The benchmark (not part of the test command; its figures go in the README):
#   1. the core's hot path natively (ns and allocations per request)
#   2. side by side: direct, bare JS Worker, Switchyard, LiteLLM proxy, Portkey (bench/compare.mjs)
#   3. the reliability soak at full size: 10,000 requests at 32 concurrent, half-broken upstreams
#   4. failover at full scale: the sixteen faults, hedged first tokens, continued streams' CPU
#      (bench/failover.mjs)
#   5. the CPU a translated call adds: Chat Completions vs the same call through the Messages and
#      Responses APIs, natively through the whole HTTP surface (core/benches/protocols.rs)
# Arguments go to bench/compare.mjs (--seconds 5 --rounds 2 --chunks 20 --only a,b).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
bash scripts/bench-setup.sh
source scripts/env.sh
command -v wrk >/dev/null || { s=""; [ "$(id -u)" = 0 ] || s=sudo; $s apt-get update -qq && $s apt-get install -y -qq wrk >/dev/null; }
bash scripts/build-worker.sh >/dev/null 2>&1 || bash scripts/build-worker.sh

echo "==> core hot path (native)"
cargo bench -p switchyard-core --bench hot_path 2>/dev/null | grep "hot path"

echo "==> protocols: the CPU a translated call adds (native)"
cargo bench -p switchyard-core --bench protocols 2>/dev/null | grep "protocols:"

echo "==> side by side"
node bench/compare.mjs "$@"

echo "==> soak: 10,000 requests"
SOAK_REQUESTS=10000 node --test tests/e2e/soak.test.mjs 2>&1 | grep -E "soak:|^# (pass|fail)"

echo "==> failover: sixteen faults at full scale, hedging, continued streams"
node bench/failover.mjs
