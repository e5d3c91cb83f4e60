#!/usr/bin/env bash
# The widget in a real browser: installs Debian's chromium and playwright-core (npm ci) when
# they are missing, builds the binary, starts it on a free port with a fresh SQLite file,
# creates the test clients with `chatbot client create`, and runs tests/widget/*.test.mjs with
# node's own test runner. The host pages are served by the tests from another origin.
# With CI=true a missing piece is a failure, never a skip.
#   bash tests/widget/run.sh            debug binary (what .ci/run has just built)
#   WIDGET_PROFILE=release bash tests/widget/run.sh
#   bash tests/widget/run.sh tests/widget/readme.test.mjs     only these test files
#   WIDGET_TESTS=tests/widget/generation2.test.mjs bash tests/widget/run.sh   (some files only)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
HERE="$ROOT/tests/widget"
CI=${CI:-false}
PROFILE=${WIDGET_PROFILE:-debug}

log() { printf '\n==> %s\n' "$*"; }
die() { echo "widget tests: $*" >&2; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  log "installing $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# --- what the tests need ---------------------------------------------------------------------
if [ ! -x /usr/bin/chromium ]; then
  apt_install chromium || true
fi
[ -x /usr/bin/chromium ] || die "Debian's chromium could not be installed (/usr/bin/chromium)"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  apt_install nodejs npm || true
fi
command -v node >/dev/null || die "node is missing"
# The README's five-minute path (readme.test.mjs) serves its page with python3, as it tells readers to.
command -v python3 >/dev/null || apt_install python3 || true
command -v python3 >/dev/null || die "python3 is missing (the README's path serves its page with it)"
node -e 'process.exit(+process.versions.node.split(".")[0] >= 18 ? 0 : 1)' \
  || die "node 18 or later is needed for node --test (found $(node --version))"
if [ ! -f "$HERE/node_modules/playwright-core/package.json" ] \
  || [ "$HERE/package-lock.json" -nt "$HERE/node_modules/.package-lock.json" ]; then
  log "npm ci (playwright-core)"
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed"
fi
[ -f "$HERE/node_modules/playwright-core/package.json" ] || die "playwright-core is missing"

# --- the service -------------------------------------------------------------------------------
if [ "$PROFILE" = release ]; then
  log "building the release binary"
  cargo build --release --locked --bin chatbot
  BIN="$ROOT/target/release/chatbot"
else
  log "building the binary"
  cargo build --locked --bin chatbot
  BIN="$ROOT/target/debug/chatbot"
fi

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}
WORK=$(mktemp -d /tmp/chatbot-widget.XXXXXX)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

SVC_PORT=$(free_port)
HOST_PORT=$(free_port)
while [ "$HOST_PORT" = "$SVC_PORT" ]; do HOST_PORT=$(free_port); done
export HOST=127.0.0.1 PORT=$SVC_PORT PUBLIC_URL="http://127.0.0.1:$SVC_PORT" \
  DATABASE_URL="sqlite://$WORK/widget.db" OFFLINE_WORD_DELAY_MS=${OFFLINE_WORD_DELAY_MS:-40} \
  RATE_LIMIT_PER_MINUTE=100000 DEMO_CLIENT=true JWT_SECRET=widget-tests-secret-that-is-at-least-32-bytes AI_PROVIDER=offline \
  REPLY_RETENTION=300 WEBHOOK_ALLOW_PRIVATE=true LOG_FORMAT=text RUST_LOG=${RUST_LOG:-warn}
unset OPENAI_API_KEY ANTHROPIC_API_KEY

field() { sed -n "s/^$1: //p"; }
MAIN=$("$BIN" client create --name "Widget host" --origin "http://127.0.0.1:$HOST_PORT")
OTHER=$("$BIN" client create --name "Somebody else" --origin "https://elsewhere.example")
export WIDGET_SERVICE="http://127.0.0.1:$SVC_PORT" WIDGET_HOST_PORT=$HOST_PORT
export WIDGET_PK=$(echo "$MAIN" | field publishable_key) WIDGET_SK=$(echo "$MAIN" | field secret_key)
export WIDGET_FOREIGN_PK=$(echo "$OTHER" | field publishable_key)
[ -n "$WIDGET_PK" ] && [ -n "$WIDGET_SK" ] && [ -n "$WIDGET_FOREIGN_PK" ] || die "client create printed no keys"

log "starting chatbot on $PUBLIC_URL (host pages on http://127.0.0.1:$HOST_PORT)"
"$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  if (echo >/dev/tcp/127.0.0.1/$SVC_PORT) 2>/dev/null; then break; fi
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; die "the server did not start"; }
  sleep 0.1
done
(echo >/dev/tcp/127.0.0.1/$SVC_PORT) 2>/dev/null || die "the server is not listening"

log "widget tests in headless Chromium"
mkdir -p "$HERE/out"
status=0
if [ $# -gt 0 ]; then
  FILES=("$@")
elif [ -n "${WIDGET_TESTS:-}" ]; then
  read -ra FILES <<< "$WIDGET_TESTS"
else
  FILES=("$HERE"/*.test.mjs)
fi
export WIDGET_BIN="$BIN"
node --test --test-concurrency=1 --test-reporter=spec "${FILES[@]}" || status=$?
if [ "$status" != 0 ]; then
  echo "--- server log (last 60 lines) ---"
  tail -n 60 "$WORK/server.log"
fi
exit "$status"
