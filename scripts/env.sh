# Environment for running wrangler and workerd offline and quietly (sourced by the scripts).
export WRANGLER_SEND_METRICS=false
export WRANGLER_SEND_ERROR_REPORTS=false
export CLOUDFLARE_CF_FETCH_ENABLED=false
export WRANGLER_LOG_PATH="${WRANGLER_LOG_PATH:-$(pwd)/.wrangler/logs}"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$(pwd)/node_modules/.bin:$PATH"
