#!/usr/bin/env bash
# Builds the JSPI trial's Worker into bench/jspi/out (bench/jspi.mjs calls this).
set -euo pipefail
cd "$(dirname "$0")"
root="$(cd ../.. && pwd)"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
cargo build --release --offline --target wasm32-unknown-unknown --target-dir "$root/target/jspi" -q
rm -rf wb out && mkdir -p out
wasm-bindgen --target module --out-dir wb --no-typescript "$root/target/jspi/wasm32-unknown-unknown/release/jspi_trial.wasm"
sed -i 's|^import source wasmModule from "./jspi_trial_bg.wasm";|import wasmModule from "./jspi_trial_bg.wasm";|' wb/jspi_trial.js
mv wb/jspi_trial_bg.wasm out/
platform="$(node -p 'process.platform + "-" + process.arch')"
"$root/node_modules/@esbuild/$platform/bin/esbuild" entry.mjs --bundle --format=esm --log-level=warning \
  --external:./jspi_trial_bg.wasm --outfile=out/index.js
