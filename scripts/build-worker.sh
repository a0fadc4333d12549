#!/usr/bin/env bash
# Builds the Worker (build/index.js + build/index_bg.wasm) with tools installed locally, no
# downloads: cargo builds the host (src/) for wasm32, wasm-bindgen wraps its exports, wasm-opt
# shrinks it, esbuild bundles the JavaScript entry (src/js/entry.mjs) with wasm-bindgen's glue.
# Skipped when nothing it is built from changed since the last build (build/.inputs holds their
# digest), so `wrangler dev` restarts and warm test runs do not rebuild an unchanged Worker;
# FORCE_BUILD=1 builds anyway. PROFILE=1 keeps the function names in the wasm (for profiling).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
# esbuild's own binary for this platform (@esbuild/linux-x64 here), installed by npm.
platform="$(node -p 'process.platform + "-" + process.arch')"
esbuild="$root/node_modules/@esbuild/$platform/bin/esbuild"
wasm_bindgen="${CARGO_HOME:-$HOME/.cargo}/bin/wasm-bindgen"
# binaryen from npm (pinned in package-lock.json).
wasm_opt="$root/node_modules/.bin/wasm-opt"

# What the Worker is built from: the sources (the console's files too), the manifests and
# lockfiles, this script, the tools' versions and the build's environment.
inputs() {
  find Cargo.toml Cargo.lock package-lock.json core/Cargo.toml src core/src www \
    scripts/build-worker.sh -type f 2>/dev/null | LC_ALL=C sort | xargs sha256sum
  "$wasm_bindgen" --version 2>/dev/null || true
  rustc --version
  env | grep -E '^(RUSTFLAGS|CARGO_PROFILE_|CARGO_BUILD_|PROFILE=)' | LC_ALL=C sort || true
}
digest="$(inputs | sha256sum | cut -d' ' -f1)"
if [ -z "${FORCE_BUILD:-}" ] && [ -f build/index.js ] && [ -f build/.inputs ] &&
  [ "$(cat build/.inputs)" = "$digest" ]; then
  echo "build-worker: unchanged since the last build (build/.inputs); FORCE_BUILD=1 to rebuild"
  exit 0
fi
rm -f build/.inputs
cargo build --release --target wasm32-unknown-unknown -p switchyard
rm -rf build/wb build/index.js build/index_bg.wasm
mkdir -p build/wb
names=(--remove-name-section --remove-producers-section)
opt_names=()
minify=(--minify)
if [ -n "${PROFILE:-}" ]; then
  names=()
  opt_names=(--debuginfo)
  minify=()
fi
"$wasm_bindgen" --target module --out-dir build/wb --out-name index --no-typescript \
  --experimental-reset-state-function "${names[@]}" \
  target/wasm32-unknown-unknown/release/switchyard.wasm
"$wasm_opt" -Os --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-reference-types --enable-multivalue --enable-mutable-globals "${opt_names[@]}" \
  build/wb/index_bg.wasm -o build/index_bg.wasm
rm build/wb/index_bg.wasm
# The runtime imports a .wasm module as a compiled WebAssembly.Module with a plain import.
sed -i 's|^import source wasmModule from "./index_bg.wasm";|import wasmModule from "./index_bg.wasm";|' build/wb/index.js
# The console's files as one module of texts (served by src/js/dashboard.mjs).
node -e 'const fs = require("fs"); const files = {};
for (const f of fs.readdirSync("www").sort()) files[f] = fs.readFileSync("www/" + f, "utf8");
fs.writeFileSync("build/www.mjs", "export default " + JSON.stringify(files) + ";\n");'
"$esbuild" src/js/entry.mjs --bundle --format=esm "${minify[@]}" --log-level=warning \
  --external:./index_bg.wasm '--external:cloudflare:*' \
  --alias:switchyard-host=./build/wb/index.js --alias:switchyard-www=./build/www.mjs \
  --outfile=build/index.js
# A source edited while this ran is not in the build: leave no digest, so the next run builds.
if [ "$(inputs | sha256sum | cut -d' ' -f1)" = "$digest" ]; then
  echo "$digest" > build/.inputs
else
  echo "build-worker: the sources changed during the build; the next run builds again"
fi
echo "build-worker: build/index.js, build/index_bg.wasm ($(gzip -9 -c build/index_bg.wasm | wc -c) bytes gzipped)"
