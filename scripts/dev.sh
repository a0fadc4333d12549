#!/usr/bin/env bash
# Sets up (idempotently) and runs Switchyard locally on the embedded Workers runtime
# (`wrangler dev`, no login, no network), with a mock OpenAI-compatible provider on
# 127.0.0.1:9911 and the demo config examples/demo.yaml.
#
#   CONFIG=path/to/config.yaml bash scripts/dev.sh   # your own config instead of the demo
#   NO_MOCK=1 ...                                     # do not start the mock provider
#   PORT=8787 ...                                     # where the router listens
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
source scripts/env.sh

config="${CONFIG:-examples/demo.yaml}"
port="${PORT:-8787}"
mock_pid=""
cleanup() { [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null || true; }
trap cleanup EXIT INT TERM

if [ -z "${NO_MOCK:-}" ]; then
  node tests/mock-upstream.mjs --port 9911 &
  mock_pid=$!
fi

cat <<MSG

Switchyard is starting on http://127.0.0.1:${port} with ${config}. Once wrangler says "Ready", try:

  curl -s http://127.0.0.1:${port}/v1/chat/completions \\
    -H 'Authorization: Bearer sk-switchyard-demo' -H 'Content-Type: application/json' \\
    -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello!"}]}'

  curl -sN http://127.0.0.1:${port}/v1/chat/completions \\
    -H 'Authorization: Bearer sk-switchyard-demo' -H 'Content-Type: application/json' \\
    -d '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hello!"}]}'

MSG
wrangler dev --ip 127.0.0.1 --port "$port" --var "ROUTER_CONFIG:$(cat "$config")"
