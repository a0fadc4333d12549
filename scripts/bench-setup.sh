#!/usr/bin/env bash
# Installs what the side-by-side benchmark compares against, from PyPI and npm (pinned), next to
# the project and outside the product: LiteLLM proxy in bench/.venv, Portkey gateway in
# bench/gateways/node_modules. Idempotent; fast when already installed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# wrk drives the A/B benchmark (bench/ab.mjs); Debian's package.
if ! command -v wrk >/dev/null; then
  echo "bench-setup: apt-get install wrk"
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq wrk >/dev/null; else sudo apt-get install -y -qq wrk >/dev/null; fi
fi
LITELLM_VERSION=1.106.12  # 1.107.0 was a compromised release; from 1.108 on the proxy extra needs litellm-proxy, which this registry lacks
if ! grep -qx "$LITELLM_VERSION" bench/.venv/.litellm-version 2>/dev/null; then
  echo "bench-setup: installing litellm[proxy]==$LITELLM_VERSION into bench/.venv"
  python3 -m venv bench/.venv
  bench/.venv/bin/pip install -q --disable-pip-version-check "litellm[proxy]==$LITELLM_VERSION"
  echo "$LITELLM_VERSION" >bench/.venv/.litellm-version
fi
stamp=bench/gateways/node_modules/.lock-hash
want="$(sha256sum bench/gateways/package-lock.json 2>/dev/null | cut -d' ' -f1 || true)"
if [ -z "$want" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bench-setup: installing the Portkey gateway into bench/gateways"
  if [ -f bench/gateways/package-lock.json ]; then
    (cd bench/gateways && npm ci --no-audit --no-fund --loglevel=error)
  else
    (cd bench/gateways && npm install --no-audit --no-fund --loglevel=error)
  fi
  sha256sum bench/gateways/package-lock.json | cut -d' ' -f1 >"$stamp"
fi
