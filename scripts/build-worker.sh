#!/usr/bin/env bash
# Builds the Worker (build/index.js + build/index_bg.wasm) with tools installed locally: worker-build
# would otherwise try to download esbuild, wasm-bindgen and wasm-opt, and there is no internet here.
# Skipped when nothing it is built from changed since the last build (build/.inputs holds their
# digest), so `wrangler dev` restarts and warm test runs do not rebuild an unchanged Worker;
# FORCE_BUILD=1 builds anyway.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# esbuild's own binary for this platform (@esbuild/linux-x64 here), installed by npm.
platform="$(node -p 'process.platform + "-" + process.arch')"
export ESBUILD_BIN="$root/node_modules/@esbuild/$platform/bin/esbuild"
export WASM_BINDGEN_BIN="${CARGO_HOME:-$HOME/.cargo}/bin/wasm-bindgen"
export WASM_OPT_BIN="$root/node_modules/.bin/wasm-opt"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

# What the Worker is built from: the sources (the dashboard is embedded), the manifests and
# lockfiles, this script, the tools' versions and the build's environment.
inputs() {
  find Cargo.toml Cargo.lock package-lock.json core/Cargo.toml src core/src www \
    scripts/build-worker.sh -type f 2>/dev/null | LC_ALL=C sort | xargs sha256sum
  "$WASM_BINDGEN_BIN" --version 2>/dev/null || true
  worker-build --version 2>/dev/null || true
  rustc --version
  env | grep -E '^(RUSTFLAGS|CARGO_PROFILE_|CARGO_BUILD_)' | LC_ALL=C sort || true
}
digest="$(inputs | sha256sum | cut -d' ' -f1)"
if [ -z "${FORCE_BUILD:-}" ] && [ -f build/index.js ] && [ -f build/.inputs ] &&
  [ "$(cat build/.inputs)" = "$digest" ]; then
  echo "build-worker: unchanged since the last build (build/.inputs); FORCE_BUILD=1 to rebuild"
  exit 0
fi
rm -f build/.inputs
worker-build --release
echo "$digest" > build/.inputs
