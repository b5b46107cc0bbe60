# Sourced by bench/run: the event relay's figures, publishing to NATS
# JetStream (the machine's server, RELAY_NATS).
#   - the relay's cost and lag: createTask at c=16 and 64 (RELAY_CONCS) on an
#     api with no sink and on one publishing every change to JetStream, each
#     on its own fresh seeded database, twice alternately; while the relay
#     runs, bench/src/bin/relay-lag consumes the stream from its start and
#     times every event from its commit to its arrival (p50, p99, max), and
#     how long after the last write the last event arrived (a relay that
#     keeps up drains at once; one that falls behind has a backlog then);
#   - backlog drain: the writes of a create cell at c=64 while the sink's
#     broker is unreachable (its URL names a closed port), then the api
#     restarted with the broker: events per second from the backlog.
# Uses BIN, PG_ADMIN_URL, PG_BASE, PG_QUERY, PORT, SECS, WORK and the helpers
# of bench/run. Writes $WORK/relay.md.

RELAY_NATS=${RELAY_NATS:-nats://127.0.0.1:4222}
RELAY_CONCS=${RELAY_CONCS:-"16 64"}

relay_start() { # port url log [VAR=value...] -> pid in RELAY_PID
  local port=$1 url=$2 log_file=$3
  shift 3
  env "$@" DATABASE_URL="$url" HOST=127.0.0.1 PORT="$port" "$BIN/api" >"$log_file" 2>&1 &
  RELAY_PID=$!
  PIDS+=("$RELAY_PID")
  wait_ready "$port" "$RELAY_PID" || { cat "$log_file" >&2; die "api ($log_file) not ready"; }
}

now_s() { date +%s.%N; }

# One side at every concurrency: "label c rps p50 p99 errors events lag_p50 lag_p99 lag_max drained_s earlier"
relay_cells() { # label url round
  local label=$1 url=$2 round=$3 port=$((PORT + 50)) c rps p50 p99 err stream lagger lag
  local ended last events
  for c in $RELAY_CONCS; do
    stream="BENCH_RELAY_$$_${round}_$c"
    if [[ $label == on ]]; then
      relay_start "$port" "$url" "$WORK/relay-$label-$c.log" EVENTS_NATS_URL="$RELAY_NATS" \
        EVENTS_NATS_STREAM="$stream" EVENTS_NATS_SUBJECT="bench.relay.$$.$round.$c"
    else
      relay_start "$port" "$url" "$WORK/relay-$label-$c.log"
    fi
    lagger=""
    if [[ $label == on ]]; then
      # Consuming before the first write, so that every event is timed live.
      local started
      started=$(now_s)
      "$BIN/relay-lag" --nats "$RELAY_NATS" --stream "$stream" --idle 5 --live-only --delete \
        >"$WORK/relay-lag-$round-$c" 2>"$WORK/relay-lag-$round-$c.err" &
      lagger=$!
      # Writes start once the consumer exists (it prints that on stderr).
      for _ in $(seq 1 100); do
        grep -q "relay-lag: consuming" "$WORK/relay-lag-$round-$c.err" 2>/dev/null && break
        sleep 0.1
      done
    fi
    warm_up "$port" create
    read -r rps p50 p99 err < <(run_wrk "$port" create "$c" "$SECS")
    lag="- - - - - -"
    if [[ -n $lagger ]]; then
      ended=$(now_s)
      wait "$lagger" || { cat "$WORK/relay-lag-$round-$c.err" >&2; die "relay-lag failed"; }
      # messages distinct p50 p99 max rate until_last earlier
      read -r events _ lag_p50 lag_p99 lag_max _ last earlier <"$WORK/relay-lag-$round-$c"
      lag="$events $lag_p50 $lag_p99 $lag_max $(awk -v s="$started" -v e="$ended" -v l="$last" \
        'BEGIN { d = s + l - e; printf "%.2f", (d > 0 ? d : 0) }') $earlier"
    fi
    log "relay: $label create c=$c: $rps req/s, p99 $p99 ms, errors $err; lag: $lag"
    echo "$label $c $rps $p50 $p99 $err $lag" >>"$WORK/relay-cells"
    stop "$RELAY_PID"
  done
}

run_relay_bench() {
  : >"$WORK/relay-cells"
  local off_url on_url drain_url round closed n drain
  fresh_db "todo_bench_relay_off_$$"; off_url=$FRESH_URL
  migrate_and_seed "$BIN" "$off_url" "relay: the no-sink side's database"
  fresh_db "todo_bench_relay_on_$$"; on_url=$FRESH_URL
  migrate_and_seed "$BIN" "$on_url" "relay: the relay side's database"
  for round in 1 2; do
    relay_cells off "$off_url" "$round"
    relay_cells on "$on_url" "$round"
  done

  # The backlog: written while the broker is unreachable, then drained.
  fresh_db "todo_bench_relay_drain_$$"; drain_url=$FRESH_URL
  migrate_and_seed "$BIN" "$drain_url" "relay: the backlog's database"
  closed=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  local port=$((PORT + 50)) stream="BENCH_RELAY_$$_drain"
  relay_start "$port" "$drain_url" "$WORK/relay-drain-1.log" EVENTS_NATS_URL="nats://127.0.0.1:$closed" \
    EVENTS_NATS_STREAM="$stream" EVENTS_NATS_SUBJECT="bench.relay.$$.drain"
  run_wrk "$port" create 64 "$SECS" >/dev/null
  stop "$RELAY_PID"
  n=$(psql -Atq "$drain_url" -c "SELECT count(*) FROM task_events e, event_sinks s
    WHERE s.name = 'nats' AND e.position > s.delivered_through")
  relay_start "$port" "$drain_url" "$WORK/relay-drain-2.log" EVENTS_NATS_URL="$RELAY_NATS" \
    EVENTS_NATS_STREAM="$stream" EVENTS_NATS_SUBJECT="bench.relay.$$.drain"
  drain=$("$BIN/relay-lag" --nats "$RELAY_NATS" --stream "$stream" --expect "$n" --idle 30 --delete)
  stop "$RELAY_PID"
  log "relay: backlog of $n events drained: $drain"
  drop_fresh_dbs

  {
    echo "## Event relay: publishing to NATS JetStream while createTask runs"
    echo
    echo "One api on PostgreSQL, without a sink (off) and publishing every change to the"
    echo "machine's NATS JetStream (on), each on its own fresh seeded database, twice"
    echo "alternately (figures averaged). Lag: \`bench/src/bin/relay-lag\`, an ordered JetStream"
    echo "consumer, from each event's CloudEvents \`time\` (stamped just before its commit) to"
    echo "its arrival at the consumer: commit, numbering, the relay's read, the publish and"
    echo "JetStream's acknowledgement, the consumer's delivery. Drained: how long after wrk"
    echo "stopped the last event arrived (0: the relay kept up). Earlier: events in the cell's"
    echo "stream committed before its consumer started (the writes wait for the consumer, so"
    echo "these can only be events of an earlier cell on the same database published again: at"
    echo "least once), left out of the lag figures."
    echo
    echo "| c | off req/s | on req/s | on/off | off p99 ms | on p99 ms | events published | lag p50 ms | lag p99 ms | lag max ms | drained after s | earlier |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for c in $RELAY_CONCS; do
      awk -v c="$c" '
        $2 == c { n[$1]++; rps[$1] += $3; p99[$1] += $5
                  if ($1 == "on") { ev += $7; l50 += $8; l99 += $9; if ($10 > lmax) lmax = $10; dr += $11; early += $12 } }
        END {
          off = rps["off"] / n["off"]; on = rps["on"] / n["on"]
          printf "| %s | %d | %d | %.2f | %.2f | %.2f | %d | %.1f | %.1f | %.1f | %.2f | %d |\n", c, off, on, on / off,
            p99["off"] / n["off"], p99["on"] / n["on"], ev / n["on"], l50 / n["on"], l99 / n["on"], lmax, dr / n["on"], early
        }' "$WORK/relay-cells"
    done
    echo
    awk -F'\t' -v n="$n" '{ printf "Backlog: %d events written while the broker was unreachable, published after it came back at %d events/s (%s arrived; %.1f s from the restart to the last).\n", n, $6, $2, $7 }' <<<"$drain"
  } >"$WORK/relay.md"
}
