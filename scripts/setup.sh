#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian machine with Rust and Node 20, and
# skips whatever is already there at the pinned version. Safe to run again; fast when done.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# shellcheck source=versions.env
source scripts/versions.env
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

step() { printf '\n==> %s\n' "$*"; }
has_version() { command -v "$1" >/dev/null 2>&1 && "$1" --version 2>/dev/null | grep -qF "$2"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian packages: Chromium and its driver for the browser tests.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  step "apt: chromium chromium-driver"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium chromium-driver >/dev/null
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "rustup: wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# wasm-bindgen-cli must match Cargo.lock exactly (the Worker's build runs it; wasm-pack would
# otherwise try to download it).
WASM_BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)"
if ! has_version wasm-bindgen "$WASM_BINDGEN_VERSION"; then
  step "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  # Not --locked: the registry here lacks a version its lockfile names (see toolchain notes).
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi
if ! has_version wasm-pack "$WASM_PACK_VERSION"; then
  step "cargo install wasm-pack $WASM_PACK_VERSION"
  cargo install wasm-pack --version "$WASM_PACK_VERSION" --locked --force
fi

# npm packages (wrangler, miniflare, esbuild, binaryen, openai SDK), exactly as locked.
stamp="node_modules/.switchyard-lock-hash"
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  step "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" >"$stamp"
fi
# Python clients for the drop-in tests (the openai SDK and the litellm package), pinned, in a
# venv of their own; reinstalled only when the pins change.
py_stamp="tests/.venv/.switchyard-pins"
py_want="openai==$PY_OPENAI_VERSION litellm==$PY_LITELLM_VERSION"
if [ ! -f "$py_stamp" ] || [ "$(cat "$py_stamp")" != "$py_want" ]; then
  step "pip: $py_want (tests/.venv)"
  python3 -m venv tests/.venv
  # shellcheck disable=SC2086
  tests/.venv/bin/pip install -q --disable-pip-version-check $py_want
  echo "$py_want" >"$py_stamp"
fi
echo "setup: ok"
