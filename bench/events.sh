# Sourced by bench/run: the event log's figures.
#   - idle subscribers: the RSS of one replica with EVENTS_IDLE (10000)
#     graphql-transport-ws subscriptions open, and 5 s after they closed;
#   - commit-to-delivery latency: 1000 subscribers on one replica, and 50
#     over three replicas, 1000 changes each;
#   - the write cost of the log: create and update req/s of this build
#     against a baseline build without the event log (BENCH_BASELINE_REV,
#     default: the commit before the log), each on its own fresh database.
# Uses BIN, PG_ADMIN_URL, PG_BASE, PG_QUERY, PORT, SECS, WORK, log, die,
# start_api-like helpers of bench/run. Writes $WORK/events.md.

EVENTS_IDLE=${EVENTS_IDLE:-10000}
EVENTS_BASELINE_REV=${BENCH_BASELINE_REV:-4316a17~1}

events_start_replica() { # port url log -> pid in EV_PID
  # The idle subscribers all come from 127.0.0.1: above the connection caps.
  HTTP_MAX_CONNECTIONS=${HTTP_MAX_CONNECTIONS:-$((EVENTS_IDLE + 1000))} \
  HTTP_MAX_CONNECTIONS_PER_CLIENT=${HTTP_MAX_CONNECTIONS_PER_CLIENT:-$((EVENTS_IDLE + 1000))} \
  DATABASE_URL=$2 HOST=127.0.0.1 PORT=$1 "$3" >"$4" 2>&1 &
  EV_PID=$!
  PIDS+=("$EV_PID")
  wait_ready "$1" "$EV_PID" || { cat "$4" >&2; die "replica on $1 did not become ready"; }
}

# Not called in $(...): the name must reach EV_DBS, which events_cleanup drops.
events_fresh_db() { # name -> url in EV_URL
  psql -q "$PG_ADMIN_URL" -c "CREATE DATABASE \"$1\"" >/dev/null
  EV_DBS+=("$1")
  EV_URL="${PG_BASE%/*}/$1$PG_QUERY"
}

events_cleanup() {
  for db in "${EV_DBS[@]}"; do
    psql -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
  done
}

events_write_cells() { # label api-binary url -> lines "label scenario c rps p50 p99 errors"
  local label=$1 bin=$2 url=$3 port=$((PORT + 20)) scenario rps p50 p99 err
  events_start_replica "$port" "$url" "$bin" "$WORK/events-$label.log"
  for scenario in create update; do
    warm_up "$port" "$scenario"
    read -r rps p50 p99 err < <(run_wrk "$port" "$scenario" 16 "$SECS")
    log "events: $label $scenario c=16: $rps req/s, p99 $p99 ms"
    echo "$label $scenario 16 $rps $p50 $p99 $err" >>"$WORK/events-writes"
  done
  stop "$EV_PID"
}

run_events_bench() {
  EV_DBS=()
  : >"$WORK/events-writes"
  # More sockets than the default limit allows, for client and api alike.
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  local url p1=$((PORT + 11)) p2=$((PORT + 12)) p3=$((PORT + 13)) pids idle lat1 lat3
  events_fresh_db "todo_bench_events_$$"
  url=$EV_URL
  DATABASE_URL=$url "$BIN/migration" up >"$WORK/events-migrate.log" 2>&1 \
    || { cat "$WORK/events-migrate.log" >&2; die "migration up failed"; }
  events_start_replica "$p1" "$url" "$BIN/api" "$WORK/events-r1.log"; local r1=$EV_PID
  events_start_replica "$p2" "$url" "$BIN/api" "$WORK/events-r2.log"; local r2=$EV_PID
  events_start_replica "$p3" "$url" "$BIN/api" "$WORK/events-r3.log"; local r3=$EV_PID

  log "events: $EVENTS_IDLE idle subscribers on one replica"
  idle=$("$BIN/subscribers" idle --api "http://127.0.0.1:$p1" --pid "$r1" --count "$EVENTS_IDLE" | tail -1)
  log "events: $idle"
  log "events: 1000 subscribers on one replica, 1000 changes"
  lat1=$("$BIN/subscribers" latency --api "http://127.0.0.1:$p1" --writer "http://127.0.0.1:$p2" \
    --count 1000 --mutations 1000 | tail -1)
  log "events: $lat1"
  log "events: 50 subscribers over three replicas, 1000 changes"
  lat3=$("$BIN/subscribers" latency \
    --api "http://127.0.0.1:$p1,http://127.0.0.1:$p2,http://127.0.0.1:$p3" \
    --writer "http://127.0.0.1:$p2" --count 50 --mutations 1000 | tail -1)
  log "events: $lat3"
  local peak
  peak=$(rss_kb "$r1" VmHWM)
  stop "$r1"; stop "$r2"; stop "$r3"

  # The write cost: this build and the baseline, each on a fresh seeded database.
  local baseline_dir=$ROOT/target/bench-baseline rev
  rev=$(git -C "$ROOT" rev-parse --short "$EVENTS_BASELINE_REV" 2>/dev/null || echo "")
  if [[ -n $rev ]]; then
    log "events: building the baseline $rev (no event log)"
    baseline_build "$rev" "$baseline_dir"
    local base_url this_url
    events_fresh_db "todo_bench_base_$$"
    base_url=$EV_URL
    migrate_and_seed "$baseline_dir/release" "$base_url" "events: the baseline's database"
    events_fresh_db "todo_bench_this_$$"
    this_url=$EV_URL
    migrate_and_seed "$BIN" "$this_url" "events: this build's database"
    events_write_cells "baseline" "$baseline_dir/release/api" "$base_url"
    events_write_cells "this" "$BIN/api" "$this_url"
    events_write_cells "baseline" "$baseline_dir/release/api" "$base_url"
    events_write_cells "this" "$BIN/api" "$this_url"
  fi
  events_cleanup

  {
    echo "## Events: subscribers, delivery latency, write cost"
    echo
    echo "Client: \`bench/src/bin/subscribers.rs\` (tokio + tungstenite, one process); its CPU"
    echo "share is printed to show it is not the bottleneck. Latency: from the event's"
    echo "\`occurredAt\` (stamped by the server just before its commit) to its arrival, changes"
    echo "made one at a time (10 ms apart) through another replica than the subscribers'."
    echo
    echo "| what | figures |"
    echo "|---|---|"
    awk -F'\t' '{ printf "| %s idle subscribers on one replica | RSS %.1f MB before, %.1f MB with them, %.1f MB 5 s after they left (%.1f KB each) |\n", $2, $3/1024, $4/1024, $5/1024, $6 }' <<<"$idle"
    awk -F'\t' '{ printf "| %s subscribers on %s replica(s), %s changes | %s of %s delivered; p50 %s ms, p99 %s ms, max %s ms; client CPU %.0f %% of one core |\n", $3, $2, $4, $5, $6, $7, $8, $9, 100 * $10 }' <<<"$lat1"
    awk -F'\t' '{ printf "| %s subscribers on %s replica(s), %s changes | %s of %s delivered; p50 %s ms, p99 %s ms, max %s ms; client CPU %.0f %% of one core |\n", $3, $2, $4, $5, $6, $7, $8, $9, 100 * $10 }' <<<"$lat3"
    echo "| replica 1 RSS peak (VmHWM) | $(mb "$peak") MB |"
    if [[ -s $WORK/events-writes ]]; then
      echo
      echo "Write cost of the log (c=16, PostgreSQL, each build on its own fresh seeded"
      echo "database, run twice alternately; baseline = \`$rev\`, the commit before the log):"
      echo
      echo "| scenario | baseline req/s | with the log req/s | ratio | baseline p99 ms | with the log p99 ms |"
      echo "|---|---:|---:|---:|---:|---:|"
      for scenario in create update; do
        awk -v s="$scenario" '
          $2 == s { n[$1]++; rps[$1] += $4; p99[$1] += $6 }
          END {
            b = rps["baseline"] / n["baseline"]; t = rps["this"] / n["this"]
            printf "| %s | %d | %d | %.2f | %.2f | %.2f |\n", s, b, t, t / b,
              p99["baseline"] / n["baseline"], p99["this"] / n["this"]
          }' "$WORK/events-writes"
      done
    fi
  } >"$WORK/events.md"
}
