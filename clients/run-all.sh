#!/usr/bin/env bash
# Outside clients against a real api server: installs the pinned npm packages,
# starts the api on a free port with a fresh SQLite database, and runs
#   a. graphql-http's GraphQL-over-HTTP server audit   (audit-http.mjs)
#   b. graphql-ws and subscriptions-transport-ws        (test/subscriptions.test.mjs)
#      and every query/mutation of operations/ executed (test/operations.test.mjs)
#      and Apollo Client's persisted-queries link, POST and GET (test/persisted.test.mjs)
#      and the event relay's NATS sink read back with the official NATS client
#      (JetStream ordered consumer) and validated with the CloudEvents SDK
#      (test/events.test.mjs): this api runs with EVENTS_NATS_URL and a
#      subject prefix and stream of its own (todo.ci<random><label>,
#      TODO_CI_<RANDOM>_<LABEL>), deleted at the end (events/delete-stream.mjs)
#      (all with node --test, one file at a time: they share the database)
#   -  the served SDL equals the checked-in ../schema.graphql
#   -  the event relay's webhook sink: events/webhook.test.mjs starts its own api
#      (SQLite) with EVENTS_WEBHOOK_URL/SECRET pointing at a node:http receiver;
#      every delivery is verified with `standardwebhooks` and parsed with the
#      CloudEvents SDK's HTTP binding; a 503 is retried, a 410 stops the sink
#   -  an api with TRUSTED_DOCUMENTS=../persisted-documents.json and
#      TRUSTED_DOCUMENTS_MODE=only: manifest documents run by hash through
#      Apollo's link, ad-hoc ones are refused        (trusted/only.test.mjs)
#   g. Apollo Federation through a real gateway (federation/, its own pinned
#      package-lock.json, installed with npm ci): an api on SQLite with
#      AUTH_JWT_SECRET (random per run), the users subgraph written for the
#      test (federation/users-subgraph.mjs, @apollo/subgraph); then
#      - composition (federation/compose.mjs, @theguild/federation-composition):
#        ../schema.federation.graphql equals the api's live _service { sdl }
#        and composes with the users subgraph; any composition error fails
#      - Hive Gateway's runtime (federation/gateway.mjs) serves that supergraph
#        and federation/test/*.test.mjs run through it: queries across both
#        subgraphs (our _entities), Authorization forwarded to both (each user
#        sees only their own), error codes kept, a subscription over the
#        gateway's WebSocket relayed to the api's
#   c. graphql-codegen (client preset), then tsc --noEmit; the manifest it
#      writes (src/gql/persisted-documents.json) equals ../persisted-documents.json
#   d. @graphql-eslint's relay rules on ../schema.graphql
#   e. graphql-inspector diff against schema.baseline.graphql
#   f. in Debian's Chromium with playwright-core (browser/*.test.mjs; each test
#      starts its own api processes): GraphiQL at / from the embedded pinned
#      files, and the example app (/app/) on another origin with and without
#      CORS_ALLOWED_ORIGINS; screenshots go to ARTIFACT_DIR
# With TEST_DATABASE_URL (postgres://USER@HOST:PORT/DB, a database to connect to
# for CREATE DATABASE) it repeats a and b on a fresh PostgreSQL database.
# The NATS checks need a NATS server with JetStream at EVENTS_NATS_URL.
#
# Environment: API_BIN (default target/debug/api of this repository), TEST_DATABASE_URL,
# EVENTS_NATS_URL (default nats://127.0.0.1:4222),
# SKIP_NPM_CI=1 (reuse node_modules, here and in federation/), KEEP_TMP=1 (keep
# the temp dir: api, users subgraph and gateway logs, SQLite files, audit JSON,
# the supergraph), ARTIFACT_DIR (screenshots; default
# target/clients-artifacts), CHROMIUM (default /usr/bin/chromium; installed
# from Debian with apt-get when missing and running as root), SKIP_BROWSER=1.
set -euo pipefail

# A relative API_BIN is taken from the caller's directory; the default from here.
if [[ -n ${API_BIN:-} && $API_BIN != /* ]]; then API_BIN=$PWD/$API_BIN; fi
cd "$(dirname "${BASH_SOURCE[0]}")"
REPO_DIR=$(cd .. && pwd)
API_BIN=${API_BIN:-$REPO_DIR/target/debug/api}
ARTIFACT_DIR=${ARTIFACT_DIR:-$REPO_DIR/target/clients-artifacts}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
NATS_URL=${EVENTS_NATS_URL:-nats://127.0.0.1:4222}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/todo-clients.XXXXXX")
SERVER_PID=
PG_DB=
declare -a NODE_PIDS=()
declare -a NATS_STREAMS=()

declare -a STEP_NAMES=() STEP_RESULTS=() STEP_SECONDS=()
FAILED=0

log() { printf '\n=== %s\n' "$*"; }

stop_server() {
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=
}

drop_pg_db() {
  if [[ -n $PG_DB ]]; then
    psql "$TEST_DATABASE_URL" -v ON_ERROR_STOP=1 -qc "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null ||
      echo "warning: could not drop database $PG_DB" >&2
    PG_DB=
  fi
}

# Stops the node processes start_node started (users subgraph, gateway).
stop_node_processes() {
  local pid
  for pid in "${NODE_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${NODE_PIDS[@]}"; do
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  NODE_PIDS=()
}

# Deletes the JetStream streams the api servers of this run published to
# (after they stopped: a running api creates its stream again).
delete_nats_streams() {
  ((${#NATS_STREAMS[@]})) || return 0
  node events/delete-stream.mjs "$NATS_URL" "${NATS_STREAMS[@]}" ||
    echo "warning: could not delete the NATS streams ${NATS_STREAMS[*]}" >&2
  NATS_STREAMS=()
}

cleanup() {
  stop_node_processes
  stop_server
  drop_pg_db
  delete_nats_streams
  if [[ ${KEEP_TMP:-} == 1 ]]; then
    echo "kept $TMP"
  else
    rm -rf "$TMP"
  fi
}
trap cleanup EXIT

# Runs one check, records pass/fail and time, and never stops the script.
step() {
  local name=$1
  shift
  log "$name: $*"
  local start=$SECONDS rc=0
  "$@" || rc=$?
  STEP_NAMES+=("$name")
  STEP_SECONDS+=($((SECONDS - start)))
  if [[ $rc == 0 ]]; then
    STEP_RESULTS+=(pass)
  else
    STEP_RESULTS+=("FAIL (exit $rc)")
    FAILED=$((FAILED + 1))
  fi
}

free_port() {
  node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

# start_server LABEL DATABASE_URL [VAR=VALUE...]: sets API_URL once /readyz answers.
start_server() {
  local label=$1 database_url=$2
  shift 2
  local port dir=$TMP/$label
  port=$(free_port)
  mkdir -p "$dir"
  # The server's working directory is the temp dir: no .env of the repo is read.
  (cd "$dir" && exec env DATABASE_URL="$database_url" HOST=127.0.0.1 PORT="$port" "$@" \
    "$API_BIN" >"$dir/api.log" 2>&1) &
  SERVER_PID=$!
  API_URL=http://127.0.0.1:$port
  export API_URL
  for _ in $(seq 1 300); do
    if curl -fsS "$API_URL/readyz" >/dev/null 2>&1; then
      echo "api ($label) ready at $API_URL, pid $SERVER_PID"
      return 0
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "api ($label) exited before it was ready; its log:" >&2
      tail -n 50 "$dir/api.log" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "api ($label) not ready after 60 s; its log:" >&2
  tail -n 50 "$dir/api.log" >&2
  return 1
}

# start_node LABEL READY_URL COMMAND...: runs COMMAND in the background (its
# output in $TMP/LABEL.log) and returns once READY_URL answers 2xx.
start_node() {
  local label=$1 ready=$2
  shift 2
  "$@" >"$TMP/$label.log" 2>&1 &
  local pid=$!
  NODE_PIDS+=("$pid")
  for _ in $(seq 1 150); do
    if curl -fsS "$ready" >/dev/null 2>&1; then
      echo "$label ready ($ready), pid $pid"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$label exited before it was ready; its log:" >&2
      tail -n 50 "$TMP/$label.log" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "$label not ready after 30 s; its log:" >&2
  tail -n 50 "$TMP/$label.log" >&2
  return 1
}

federation_npm_ci() {
  if [[ ${SKIP_NPM_CI:-} == 1 && -d federation/node_modules ]]; then
    echo "npm ci skipped (SKIP_NPM_CI=1)"
    return 0
  fi
  (cd federation && npm ci --prefer-offline --no-audit --no-fund --loglevel=error)
}

# g. The api as a subgraph behind Hive Gateway, with the users subgraph.
federation_checks() {
  local secret users_port gateway_port users_url gateway_url
  secret=$(node -p 'require("crypto").randomBytes(32).toString("hex")')
  if ! start_server federation "sqlite://$TMP/federation/todo.db?mode=rwc" AUTH_JWT_SECRET="$secret"; then
    STEP_NAMES+=("federation: api start") STEP_RESULTS+=(FAIL) STEP_SECONDS+=(0)
    FAILED=$((FAILED + 1))
    return
  fi
  users_port=$(free_port)
  users_url=http://127.0.0.1:$users_port
  # The secret reaches the node processes through the environment, unprinted.
  if ! AUTH_JWT_SECRET=$secret start_node users-subgraph "$users_url/healthz" \
    env PORT="$users_port" node federation/users-subgraph.mjs; then
    STEP_NAMES+=("federation: users subgraph start") STEP_RESULTS+=(FAIL) STEP_SECONDS+=(0)
    FAILED=$((FAILED + 1))
    return
  fi
  AUTH_JWT_SECRET=$secret step "federation: composition (todo + users subgraphs)" \
    env USERS_URL="$users_url" node federation/compose.mjs --out "$TMP/supergraph.graphql"
  [[ -s $TMP/supergraph.graphql ]] || return 0
  gateway_port=$(free_port)
  gateway_url=http://127.0.0.1:$gateway_port
  if ! start_node gateway "$gateway_url/readiness" \
    env SUPERGRAPH="$TMP/supergraph.graphql" PORT="$gateway_port" node federation/gateway.mjs; then
    STEP_NAMES+=("federation: gateway start") STEP_RESULTS+=(FAIL) STEP_SECONDS+=(0)
    FAILED=$((FAILED + 1))
    return
  fi
  AUTH_JWT_SECRET=$secret step "federation: through Hive Gateway (node --test)" \
    env GATEWAY_URL="$gateway_url" node --test --test-concurrency=1 --test-reporter=spec federation/test/*.test.mjs
}

# The checked-in manifest is what codegen makes of operations/ today.
manifest_matches() {
  if ! diff -u "$REPO_DIR/persisted-documents.json" src/gql/persisted-documents.json; then
    echo "persisted-documents.json is stale: run codegen and copy src/gql/persisted-documents.json to the repository root" >&2
    return 1
  fi
  echo "persisted-documents.json equals the generated manifest"
}

served_schema_matches() {
  curl -fsS "$API_URL/schema.graphql" -o "$TMP/served.graphql"
  if ! diff -u "$REPO_DIR/schema.graphql" "$TMP/served.graphql"; then
    echo "the server's SDL differs from schema.graphql (stale API_BIN or schema.graphql?)" >&2
    return 1
  fi
  echo "served SDL equals schema.graphql"
}

# Debian's chromium, never a downloaded browser build.
ensure_chromium() {
  [[ -x $CHROMIUM ]] && return 0
  if [[ $CHROMIUM == /usr/bin/chromium && $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    log "installing chromium from Debian (apt-get)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    [[ -x $CHROMIUM ]] && return 0
  fi
  echo "no Chromium at $CHROMIUM: install Debian's chromium (apt-get install chromium) or set CHROMIUM" >&2
  return 1
}

browser_checks() {
  mkdir -p "$ARTIFACT_DIR"
  rm -f "$ARTIFACT_DIR"/{graphiql,example-app}*.png
  local file
  for file in browser/graphiql.test.mjs browser/app.test.mjs; do
    step "browser: $(basename "$file" .test.mjs) (chromium)" \
      env API_BIN="$API_BIN" ARTIFACT_DIR="$ARTIFACT_DIR" CHROMIUM="$CHROMIUM" \
      node --test --test-concurrency=1 --test-reporter=spec "$file"
  done
}

# nats_env LABEL: the EVENTS_NATS_* settings (VAR=VALUE words) of the api
# LABEL and of the test that reads its stream. Each server gets a subject
# prefix and a stream of its own, unique to the run: PostgreSQL's log numbers
# its events from 1 again, and JetStream would drop a Nats-Msg-Id it has just
# seen as a duplicate. The streams are deleted once the servers have stopped
# (delete_nats_streams, from cleanup).
nats_env() {
  echo "EVENTS_NATS_URL=$NATS_URL EVENTS_NATS_SUBJECT=todo.ci$RUN_TAG$1 EVENTS_NATS_STREAM=$(nats_stream "$1")"
}
nats_stream() {
  echo "TODO_CI_${RUN_TAG^^}_${1^^}"
}

server_checks() {
  local label=$1
  step "$label: graphql-http audit" node audit-http.mjs --json "$TMP/audit-$label.json"
  # shellcheck disable=SC2046 # nats_env prints VAR=VALUE words without spaces
  step "$label: operations + subscriptions + NATS events" \
    env $(nats_env "$label") node --test --test-concurrency=1 --test-reporter=spec test/*.test.mjs
}

# ---------------------------------------------------------------------------

if [[ ! -x $API_BIN ]]; then
  echo "no api binary at $API_BIN: build it with 'cargo build -p api' or set API_BIN" >&2
  exit 2
fi
echo "node $(node --version), npm $(npm --version), api binary $API_BIN"
RUN_TAG=$(node -p 'require("crypto").randomBytes(4).toString("hex")')

if [[ ${SKIP_NPM_CI:-} == 1 && -d node_modules ]]; then
  log "npm ci skipped (SKIP_NPM_CI=1)"
else
  log "npm ci"
  npm ci --prefer-offline --no-audit --no-fund --loglevel=error
fi

log "SQLite"
NATS_STREAMS+=("$(nats_stream sqlite)")
# shellcheck disable=SC2046
if start_server sqlite "sqlite://$TMP/sqlite/todo.db?mode=rwc" $(nats_env sqlite); then
  server_checks sqlite
  step "served SDL equals schema.graphql" served_schema_matches
else
  STEP_NAMES+=("sqlite: api start") STEP_RESULTS+=(FAIL) STEP_SECONDS+=(0)
  FAILED=$((FAILED + 1))
fi
stop_server

log "event relay: webhook sink (its own api, SQLite)"
step "events: webhook (standardwebhooks, cloudevents)" \
  env API_BIN="$API_BIN" node --test --test-concurrency=1 --test-reporter=spec events/*.test.mjs

log "trusted documents only (SQLite)"
if start_server trusted "sqlite://$TMP/trusted/todo.db?mode=rwc" \
  TRUSTED_DOCUMENTS="$REPO_DIR/persisted-documents.json" TRUSTED_DOCUMENTS_MODE=only; then
  step "trusted documents only: Apollo link (node --test)" node --test --test-concurrency=1 --test-reporter=spec trusted/only.test.mjs
else
  STEP_NAMES+=("trusted documents: api start") STEP_RESULTS+=(FAIL) STEP_SECONDS+=(0)
  FAILED=$((FAILED + 1))
fi
stop_server

log "federation (SQLite, Hive Gateway)"
federation_started=$SECONDS
step "federation: npm ci (federation/package-lock.json)" federation_npm_ci
if [[ ${STEP_RESULTS[-1]} == pass ]]; then
  federation_checks
fi
stop_node_processes
stop_server
echo "federation: $((SECONDS - federation_started))s"

if [[ -n ${TEST_DATABASE_URL:-} ]]; then
  log "PostgreSQL"
  PG_DB="todo_clients_$(date +%s)_$$"
  base=${TEST_DATABASE_URL%%\?*}
  query=
  [[ $TEST_DATABASE_URL == *\?* ]] && query="?${TEST_DATABASE_URL#*\?}"
  pg_url="${base%/*}/$PG_DB$query"
  NATS_STREAMS+=("$(nats_stream postgres)")
  # shellcheck disable=SC2046
  if psql "$TEST_DATABASE_URL" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE \"$PG_DB\"" &&
    start_server postgres "$pg_url" AUTO_MIGRATE=true $(nats_env postgres); then
    server_checks postgres
  else
    STEP_NAMES+=("postgres: database or api start") STEP_RESULTS+=(FAIL) STEP_SECONDS+=(0)
    FAILED=$((FAILED + 1))
  fi
  stop_server
  drop_pg_db
fi

if [[ ${SKIP_BROWSER:-} == 1 ]]; then
  log "browser checks skipped (SKIP_BROWSER=1)"
else
  log "browser (chromium)"
  if ensure_chromium; then
    echo "$("$CHROMIUM" --version 2>/dev/null), playwright-core $(node -p 'require("playwright-core/package.json").version')"
    browser_checks
  else
    STEP_NAMES+=("browser: chromium") STEP_RESULTS+=(FAIL) STEP_SECONDS+=(0)
    FAILED=$((FAILED + 1))
  fi
fi

rm -rf src/gql
step "graphql-codegen (client preset)" npx --no-install graphql-codegen --config codegen.ts --silent
step "tsc --noEmit" npx --no-install tsc --noEmit -p tsconfig.json
step "persisted-documents.json is current" manifest_matches
step "relay rules (@graphql-eslint)" bash -c 'cd .. && clients/node_modules/.bin/eslint -c clients/eslint.config.mjs --max-warnings 0 schema.graphql && echo "relay rules: no problems"'
step "graphql-inspector diff vs schema.baseline.graphql" npx --no-install graphql-inspector diff schema.baseline.graphql ../schema.graphql

# ---------------------------------------------------------------------------

log "summary"
for file in "$TMP"/audit-*.json; do
  [[ -e $file ]] || continue
  node -e '
    const r = require(process.argv[1]);
    const c = r.counts;
    console.log(`audit ${process.argv[2]}: ${c.ok} ok, ${c.warn} warn, ${c.notice} notice, ${c.error} error`);
    for (const a of r.results.filter((a) => a.status !== "ok")) console.log(`  ${a.status} ${a.id} ${a.name}: ${a.reason}`);
  ' "$file" "$(basename "$file" .json | sed 's/^audit-//')"
done
for shot in "$ARTIFACT_DIR"/{graphiql,example-app}*.png; do
  if [[ -e $shot ]]; then echo "screenshot: $shot"; fi
done
for i in "${!STEP_NAMES[@]}"; do
  printf '%-52s %-14s %4ss\n' "${STEP_NAMES[$i]}" "${STEP_RESULTS[$i]}" "${STEP_SECONDS[$i]}"
done
PASSED=$((${#STEP_NAMES[@]} - FAILED))
echo "clients: $PASSED passed, $FAILED failed"
[[ $FAILED == 0 ]]
