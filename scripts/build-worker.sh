#!/usr/bin/env bash
# Builds the Worker (build/index.js + build/index_bg.wasm) with tools installed locally: worker-build
# would otherwise try to download esbuild, wasm-bindgen and wasm-opt, and there is no internet here.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# esbuild's own binary for this platform (@esbuild/linux-x64 here), installed by npm.
platform="$(node -p 'process.platform + "-" + process.arch')"
export ESBUILD_BIN="$root/node_modules/@esbuild/$platform/bin/esbuild"
export WASM_BINDGEN_BIN="${CARGO_HOME:-$HOME/.cargo}/bin/wasm-bindgen"
export WASM_OPT_BIN="$root/node_modules/.bin/wasm-opt"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
exec worker-build --release
