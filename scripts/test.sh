#!/usr/bin/env bash
# Sets up (idempotently) and runs every test layer:
#   1. lint: rustfmt + clippy (native and wasm32)
#   2. native: cargo test (the pure core)
#   3. browser: the core compiled to wasm32 in headless Chromium (wasm-pack test)
#   4. worker: the JavaScript runner against a scripted host; build the Worker, then end-to-end tests in workerd (Miniflare) with a mock
#      upstream on 127.0.0.1 and the official OpenAI SDK as the client (the stream tests twice:
#      compact and spaced upstream JSON)
#   5. deploy artefact: wrangler deploy --dry-run
#   6. the whole output of 1-5 is grepped for the tests' secrets (none may appear)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
source scripts/env.sh

t0=$SECONDS
mkdir -p tests/artifacts
log=tests/artifacts/test-output.log
exec > >(tee "$log") 2>&1
section() { printf '\n==> %s (at %ss)\n' "$*" "$((SECONDS - t0))"; }

section "lint"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo clippy --workspace --target wasm32-unknown-unknown --quiet -- -D warnings

section "native tests (cargo test)"
cargo test --workspace

section "browser tests (wasm-pack test --headless --chrome)"
(cd core && wasm-pack --log-level warn test --headless --chrome)

section "the Worker's JavaScript with a scripted host (node --test tests/js)"
node --test tests/js/

section "build the Worker"
bash scripts/build-worker.sh >/dev/null 2>&1 || bash scripts/build-worker.sh
ls -l build/index_bg.wasm | awk '{print "wasm size: " $5 " bytes"}'
echo "wasm gzip: $(gzip -c build/index_bg.wasm | wc -c) bytes"

section "end-to-end tests in workerd (node --test)"
node --test --test-concurrency=1 tests/e2e/

# Upstreams differ in how they write JSON: the files with stream tests run again against a mock
# that writes it as Python's json.dumps does (spaces after ':' and ',').
section "end-to-end stream tests again, upstream JSON with spaces (MOCK_JSON=spaced)"
MOCK_JSON=spaced node --test --test-concurrency=1 \
  tests/e2e/chat.test.mjs tests/e2e/faults.test.mjs tests/e2e/router.test.mjs \
  tests/e2e/cache.test.mjs tests/e2e/providers.test.mjs tests/e2e/soak.test.mjs \
  tests/e2e/protocols.test.mjs tests/e2e/console.test.mjs

section "deploy artefact (wrangler deploy --dry-run)"
rm -rf dist
wrangler deploy --dry-run --outdir dist 2>&1 | grep -Ei "total upload|dry-run|error" || true
test -s dist/index.js

section "no secret in the test output"
node scripts/check-secrets.mjs "$log"

section "all tests passed in $((SECONDS - t0))s"
