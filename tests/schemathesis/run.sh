#!/usr/bin/env bash
# schemathesis (PyPI) against the served /openapi.json, on a bounded budget (issue 13: the
# spec tells the truth). Installs schemathesis into a venv under ~/.cache when missing,
# builds the binary, starts it on a free port with a fresh SQLite file, makes a user (its
# access token) owning a client (its secret key) and runs the checks: no 5xx, responses
# that match their schema, only documented statuses, the documented content type.
# With CI=true a missing piece is a failure, never a skip.
#   bash tests/schemathesis/run.sh                 (ST_MAX_EXAMPLES=10, ST_MAX_TIME=180)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
CI=${CI:-false}
ST_VERSION=4.32.5
VENV=${ST_VENV:-$HOME/.cache/chatbot-schemathesis/venv}

log() { printf '\n==> %s\n' "$*"; }
die() { echo "schemathesis: $*" >&2; exit 1; }

# --- what it needs -----------------------------------------------------------------------
command -v python3 >/dev/null || die "python3 is missing"
command -v curl >/dev/null || die "curl is missing"
if ! "$VENV/bin/st" --version 2>/dev/null | grep -q "$ST_VERSION"; then
  log "installing schemathesis $ST_VERSION into $VENV"
  python3 -m venv "$VENV" || die "python3 -m venv failed"
  "$VENV/bin/pip" install -q "schemathesis==$ST_VERSION" || die "pip install schemathesis failed"
fi

# --- the service -------------------------------------------------------------------------
log "building the binary"
cargo build --locked --bin chatbot
BIN="$ROOT/target/debug/chatbot"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
WORK=$(mktemp -d /tmp/chatbot-st.XXXXXX)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
PORT=$(free_port)
export HOST=127.0.0.1 PORT PUBLIC_URL="http://127.0.0.1:$PORT" DATABASE_URL="sqlite://$WORK/st.db" \
  OFFLINE_WORD_DELAY_MS=0 RATE_LIMIT_PER_MINUTE=1000000 DEMO_CLIENT=false AI_PROVIDER=offline \
  JWT_SECRET=schemathesis-secret-that-is-at-least-32-bytes LOG_FORMAT=text RUST_LOG=${RUST_LOG:-warn}
unset OPENAI_API_KEY ANTHROPIC_API_KEY

EMAIL=st-owner@example.com
PASSWORD='Schemathesis owner passphrase 42'
printf '%s' "$PASSWORD" | "$BIN" user create --email "$EMAIL" --password-stdin --staff >/dev/null
CLIENT=$("$BIN" client create --name "Schemathesis" --origin "http://127.0.0.1:$PORT" --owner "$EMAIL" --format env)
SECRET=$(echo "$CLIENT" | sed -n 's/^CHATBOT_SECRET_KEY=//p')
[ -n "$SECRET" ] || die "client create printed no secret key"

log "starting chatbot on $PUBLIC_URL"
"$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  curl -fsS "$PUBLIC_URL/healthz" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; die "the server did not start"; }
  sleep 0.1
done
TOKEN=$(curl -fsS -H 'Content-Type: application/json' \
  -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" "$PUBLIC_URL/api/auth/login" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])') || die "sign-in failed"

log "schemathesis (at most ${ST_MAX_EXAMPLES:-10} examples per operation, ${ST_MAX_TIME:-180} s)"
status=0
# Operations that end the token or the key the run relies on are left out: logout and
# change-password sign out, client deletion and key revocation take the secret key away.
# The run's user is staff, so the admin operations are tried too (disabling itself is a 400).
# From the throwaway directory, so its cache (.schemathesis/) goes with it.
(cd "$WORK" && timeout $(( ${ST_MAX_TIME:-180} + 60 )) "$VENV/bin/st" run "$PUBLIC_URL/openapi.json" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  --max-examples "${ST_MAX_EXAMPLES:-10}" --max-time "${ST_MAX_TIME:-180}" --seed 1 \
  --workers 2 --request-timeout 20 --suppress-health-check all --generation-allow-x00 false \
  --exclude-path /api/auth/logout --exclude-path /api/auth/change-password \
  --exclude-path-regex '^/api/clients/\{id\}$' --exclude-path-regex '/keys/\{key_id\}$' \
  --exclude-path-regex '^/auth/google/' \
  -H "X-API-Key: $SECRET" -H "Authorization: Bearer $TOKEN") \
  || status=$?
if [ "$status" != 0 ]; then
  echo "--- server log (last 60 lines) ---"
  tail -n 60 "$WORK/server.log"
fi
exit "$status"
