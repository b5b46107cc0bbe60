# Sourced by bench/run: the event log's figures.
#   - idle subscribers: the RSS of one replica with EVENTS_IDLE (10000)
#     graphql-transport-ws subscriptions open, and 5 s and 30 s after they closed;
#   - commit-to-delivery latency: 1000 subscribers on one replica, and 50
#     over three replicas, 1000 creations each, while a write load of
#     updates runs at c=16 through the third replica (the subscribers ask
#     for creations only);
#   - the write cost of the log: create and update req/s at c=16 and 64 of
#     this build against the same source built without its event log (the
#     api's bench-unlogged feature), and PostGraphile's createTask, each on
#     its own fresh seeded database, twice alternately; with
#     EVENTS_BASELINE_REV set, that revision's build ("before", built as
#     the search section's baseline is) on its own database too.
# Uses BIN, PG_ADMIN_URL, PG_BASE, PG_QUERY, PORT, PEER_PORT, PEERS, SECS,
# WORK, log, die, start_peer, baseline_build and the other helpers of bench/run. Writes
# $WORK/events.md.

EVENTS_IDLE=${EVENTS_IDLE:-10000}
EVENTS_WRITE_CONCS=${EVENTS_WRITE_CONCS:-"16 64"}

events_start_replica() { # port url log -> pid in EV_PID
  # The idle subscribers all come from 127.0.0.1: above the connection caps.
  HTTP_MAX_CONNECTIONS=${HTTP_MAX_CONNECTIONS:-$((EVENTS_IDLE + 1000))} \
  HTTP_MAX_CONNECTIONS_PER_CLIENT=${HTTP_MAX_CONNECTIONS_PER_CLIENT:-$((EVENTS_IDLE + 1000))} \
  DATABASE_URL=$2 HOST=127.0.0.1 PORT=$1 "$3" >"$4" 2>&1 &
  EV_PID=$!
  PIDS+=("$EV_PID")
  wait_ready "$1" "$EV_PID" || { cat "$4" >&2; die "replica on $1 did not become ready"; }
}

events_write_cells() { # label api-binary url -> lines "label scenario c rps p50 p99 errors"
  local label=$1 bin=$2 url=$3 port=$((PORT + 20)) scenario c rps p50 p99 err
  events_start_replica "$port" "$url" "$bin" "$WORK/events-$label.log"
  for scenario in create update; do
    warm_up "$port" "$scenario"
    for c in $EVENTS_WRITE_CONCS; do
      read -r rps p50 p99 err < <(run_wrk "$port" "$scenario" "$c" "$SECS")
      log "events: $label $scenario c=$c: $rps req/s, p99 $p99 ms, errors $err"
      # A rate of failing requests is no figure.
      [[ $err == 0 ]] || die "events: $label $scenario c=$c answered $err errors"
      echo "$label $scenario $c $rps $p50 $p99 $err" >>"$WORK/events-writes"
    done
  done
  stop "$EV_PID"
}

# PostGraphile's createTask over its own database, whose tasks table gets
# the defaults an INSERT of its own needs (the api sets these columns itself).
events_peer_cells() { # url
  local c rps p50 p99 err
  start_peer "$1"
  warm_up "$PEER_PORT" postgraphile-create
  for c in $EVENTS_WRITE_CONCS; do
    read -r rps p50 p99 err < <(run_wrk "$PEER_PORT" postgraphile-create "$c" "$SECS")
    log "events: PostGraphile create c=$c: $rps req/s, p99 $p99 ms, errors $err"
    [[ $err == 0 ]] || die "events: PostGraphile create c=$c answered $err errors (see $WORK/postgraphile.log)"
    echo "PostGraphile create $c $rps $p50 $p99 $err" >>"$WORK/events-writes"
  done
  stop "$PEER_PID"
}

run_events_bench() {
  : >"$WORK/events-writes"
  # More sockets than the default limit allows, for client and api alike.
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  local url p1=$((PORT + 11)) p2=$((PORT + 12)) p3=$((PORT + 13)) pids idle lat1 lat3
  fresh_db "todo_bench_events_$$"
  url=$FRESH_URL
  # Seeded: the write load below updates the seed's tasks.
  migrate_and_seed "$BIN" "$url" "events: the replicas' database"
  events_start_replica "$p1" "$url" "$BIN/api" "$WORK/events-r1.log"; local r1=$EV_PID
  events_start_replica "$p2" "$url" "$BIN/api" "$WORK/events-r2.log"; local r2=$EV_PID
  events_start_replica "$p3" "$url" "$BIN/api" "$WORK/events-r3.log"; local r3=$EV_PID

  log "events: $EVENTS_IDLE idle subscribers on one replica"
  idle=$("$BIN/subscribers" idle --api "http://127.0.0.1:$p1" --pid "$r1" --count "$EVENTS_IDLE" | tail -1)
  log "events: $idle"
  # A write load through the third replica while the latency is measured.
  wrk -t2 -c16 -d60s --timeout 10s -s "$WORK/lua/update.lua" "http://127.0.0.1:$p3/graphql" \
    >"$WORK/events-load-1.out" 2>&1 &
  local load=$!
  log "events: 1000 subscribers on one replica, 1000 changes, updates at c=16 meanwhile"
  lat1=$("$BIN/subscribers" latency --api "http://127.0.0.1:$p1" --writer "http://127.0.0.1:$p2" \
    --count 1000 --mutations 1000 --kinds CREATED | tail -1)
  log "events: $lat1"
  stop "$load"
  wrk -t2 -c16 -d60s --timeout 10s -s "$WORK/lua/update.lua" "http://127.0.0.1:$p3/graphql" \
    >"$WORK/events-load-3.out" 2>&1 &
  load=$!
  log "events: 50 subscribers over three replicas, 1000 changes, updates at c=16 meanwhile"
  lat3=$("$BIN/subscribers" latency \
    --api "http://127.0.0.1:$p1,http://127.0.0.1:$p2,http://127.0.0.1:$p3" \
    --writer "http://127.0.0.1:$p2" --count 50 --mutations 1000 --kinds CREATED | tail -1)
  log "events: $lat3"
  stop "$load"
  local updates
  updates=$(psql -Atq "$url" -c "SELECT count(*) FROM task_events WHERE kind = 2")
  local peak
  peak=$(rss_kb "$r1" VmHWM)
  stop "$r1"; stop "$r2"; stop "$r3"

  # The write cost: this build, the same without the log, PostGraphile.
  local unlogged=$BIN/api-unlogged this_url unlogged_url peer_url=""
  if [[ ${EVENTS_WRITES:-1} == 1 ]]; then
  # In the same target directory (only the api crate differs), then this
  # build's api again: two links instead of a second tree of dependencies.
  # Kept beside the others, so BENCH_SKIP_BUILD=1 reuses it too.
  if [[ ${BENCH_SKIP_BUILD:-0} != 1 || ! -x $unlogged ]]; then
    log "events: building the api without its event log (feature bench-unlogged)"
    (cd "$ROOT" && cargo build --profile dist --quiet -p api --features bench-unlogged) \
      || die "the build without the event log failed"
    cp "$BIN/api" "$unlogged"
    (cd "$ROOT" && cargo build --profile dist --quiet -p api) || die "rebuilding the api failed"
  fi
  fresh_db "todo_bench_this_$$"
  this_url=$FRESH_URL
  migrate_and_seed "$BIN" "$this_url" "events: this build's database"
  fresh_db "todo_bench_unlogged_$$"
  unlogged_url=$FRESH_URL
  migrate_and_seed "$BIN" "$unlogged_url" "events: the unlogged build's database"
  local before_dir="" before_url=""
  if [[ -n ${EVENTS_BASELINE_REV:-} ]]; then
    local before_rev
    before_rev=$(git -C "$ROOT" rev-parse --short "$EVENTS_BASELINE_REV") \
      || die "events: $EVENTS_BASELINE_REV is not in this clone"
    before_dir=$ROOT/target/bench-events-baseline
    log "events: building the baseline $before_rev"
    baseline_build "$before_rev" "$before_dir"
    fresh_db "todo_bench_before_$$"
    before_url=$FRESH_URL
    migrate_and_seed "$before_dir/release" "$before_url" "events: the baseline's database"
  fi
  if [[ $PEERS == 1 ]]; then
    fresh_db "todo_bench_peer_$$"
    peer_url=$FRESH_URL
    migrate_and_seed "$BIN" "$peer_url" "events: PostGraphile's database"
    # Manual order's key: the api computes it; any key does for the peer.
    psql -q "$peer_url" -c "ALTER TABLE tasks ALTER COLUMN id SET DEFAULT gen_random_uuid(),
      ALTER COLUMN created_at SET DEFAULT now(), ALTER COLUMN updated_at SET DEFAULT now(),
      ALTER COLUMN position SET DEFAULT 'a0'" \
      || die "cannot give PostGraphile's tasks their defaults"
  fi
  for _ in 1 2; do
    events_write_cells "this" "$BIN/api" "$this_url"
    events_write_cells "unlogged" "$unlogged" "$unlogged_url"
    if [[ -n $before_url ]]; then
      events_write_cells "before" "$before_dir/release/api" "$before_url"
    fi
    if [[ -n $peer_url ]]; then events_peer_cells "$peer_url"; fi
  done
  fi
  drop_fresh_dbs

  {
    echo "## Events: subscribers, delivery latency, write cost"
    echo
    echo "Client: \`bench/src/bin/subscribers.rs\` (tokio + tungstenite, one process); its CPU"
    echo "share is printed to show it is not the bottleneck. Latency: from the event's"
    echo "\`occurredAt\` (stamped by the server just before its commit) to its arrival, changes"
    echo "made one at a time (10 ms apart) through another replica than the subscribers',"
    echo "while wrk sends updates at c=16 through the third replica ($updates updates in all;"
    echo "the subscribers ask for CREATED events only, so every update passes them by)."
    echo
    echo "| what | figures |"
    echo "|---|---|"
    awk -F'\t' '{ printf "| %s idle subscribers on one replica | RSS %.1f MB before, %.1f MB with them, %.1f MB 5 s and %.1f MB 30 s after they left (%.1f KB each) |\n", $2, $3/1024, $4/1024, $5/1024, $7/1024, $6 }' <<<"$idle"
    awk -F'\t' '{ printf "| %s subscribers on %s replica(s), %s changes | %s of %s delivered; p50 %s ms, p99 %s ms, max %s ms; client CPU %.0f %% of one core |\n", $3, $2, $4, $5, $6, $7, $8, $9, 100 * $10 }' <<<"$lat1"
    awk -F'\t' '{ printf "| %s subscribers on %s replica(s), %s changes | %s of %s delivered; p50 %s ms, p99 %s ms, max %s ms; client CPU %.0f %% of one core |\n", $3, $2, $4, $5, $6, $7, $8, $9, 100 * $10 }' <<<"$lat3"
    echo "| replica 1 RSS peak (VmHWM) | $(mb "$peak") MB |"
    if [[ -s $WORK/events-writes ]]; then
      echo
      echo "Write cost of the log (PostgreSQL, each side on its own fresh seeded database, run"
      echo "twice alternately, figures averaged): this build; \"unlogged\", the same source"
      echo "built with \`--features bench-unlogged\` (its writes record no events); PostGraphile's"
      echo "\`createTask\` (one INSERT, no events)."
      [[ -n $before_url ]] && echo "\"before\": the build of $before_rev, on its own database too."
      echo
      echo "| scenario | c | unlogged req/s | this req/s | this/unlogged | PostGraphile req/s | this/PostGraphile | unlogged p99 ms | this p99 ms | before req/s | this/before | before p99 ms |"
      echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
      for scenario in create update; do
        for c in $EVENTS_WRITE_CONCS; do
          awk -v s="$scenario" -v c="$c" '
            $2 == s && $3 == c { n[$1]++; rps[$1] += $4; p99[$1] += $6 }
            END {
              u = rps["unlogged"] / n["unlogged"]; t = rps["this"] / n["this"]
              pg = n["PostGraphile"] ? rps["PostGraphile"] / n["PostGraphile"] : 0
              b = n["before"] ? rps["before"] / n["before"] : 0
              printf "| %s | %s | %d | %d | %.2f | %s | %s | %.2f | %.2f | %s | %s | %s |\n", s, c, u, t, t / u,
                (pg > 0 ? sprintf("%d", pg) : "-"), (pg > 0 ? sprintf("%.2fx", t / pg) : "-"),
                p99["unlogged"] / n["unlogged"], p99["this"] / n["this"],
                (b > 0 ? sprintf("%d", b) : "-"), (b > 0 ? sprintf("%.2f", t / b) : "-"),
                (b > 0 ? sprintf("%.2f", p99["before"] / n["before"]) : "-")
            }' "$WORK/events-writes"
        done
      done
    fi
  } >"$WORK/events.md"
}
