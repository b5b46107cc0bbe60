# Sourced by bench/run: what organising tasks costs, on PostgreSQL.
#   - reminders: ORGANISE_REMINDERS (10000) tasks whose remindAt falls within
#     one minute (spread) or on one instant (burst), fired by three api
#     replicas on one database: how many fired, how many more than once, and
#     their lateness, p50, p99 and max, from remindAt to the time recorded
#     with the REMINDER_DUE event (just before its commit), read from
#     task_events;
#   - a move and a recurring completion against a plain update, side by side
#     on one api at c=1, twice in turn: moveTask of a hot task to the end of
#     its list (bench/run's `move`), updateTask {done: true} of a recurring
#     task (it creates the next occurrence, with its sub-tasks' copies, in the
#     same transaction; each request completes the occurrence the previous
#     one created) and updateTask of a description (bench/run's `update`).
# Uses BIN, PG_ADMIN_URL, PG_BASE, PG_QUERY, PORT, SECS, WORK and the helpers
# of bench/run. Writes $WORK/organise.md.

ORGANISE_REMINDERS=${ORGANISE_REMINDERS:-10000}

organise_start() { # port url log -> pid in ORGANISE_PID
  DATABASE_URL="$2" HOST=127.0.0.1 PORT="$1" "$BIN/api" >"$3" 2>&1 &
  ORGANISE_PID=$!
  PIDS+=("$ORGANISE_PID")
  wait_ready "$1" "$ORGANISE_PID" || { cat "$3" >&2; die "api ($3) not ready"; }
}

# "fired distinct twice p50_ms p99_ms max_ms" of one reminder run, in
# REMINDER_ROW (not called in $(...): its database must reach FRESH_DBS).
organise_reminders() { # label spread_seconds
  local label=$1 spread=$2 url port i pids=() fired deadline
  fresh_db "todo_bench_reminders_${label}_$$"; url=$FRESH_URL
  DATABASE_URL=$url "$BIN/migration" up >"$WORK/organise-migrate-$label.log" 2>&1 \
    || { cat "$WORK/organise-migrate-$label.log" >&2; die "migration up failed (reminders)"; }
  for i in 1 2 3; do
    port=$((PORT + 60 + i))
    organise_start "$port" "$url" "$WORK/organise-reminders-$label-$i.log"
    pids+=("$ORGANISE_PID")
  done
  # Due from 10 s from now: the replicas are polling before the first one.
  # One manual-order key for all (ties go by id; nothing here moves them).
  psql -q "$url" -c "INSERT INTO tasks (id, owner_id, description, priority, done,
      created_at, updated_at, version, position, remind_at)
    SELECT gen_random_uuid(), 'default', 'reminder ' || i, 0, false, now(), now(), 1, '80',
      date_trunc('second', now()) + interval '10 seconds'
        + (i - 1) * ($spread::float8 / $ORGANISE_REMINDERS) * interval '1 second'
    FROM generate_series(1, $ORGANISE_REMINDERS) AS i" >/dev/null
  deadline=$((SECONDS + 10 + spread + 60))
  while :; do
    fired=$(psql -Atq "$url" -c "SELECT count(*) FROM task_events WHERE kind = 4")
    ((fired >= ORGANISE_REMINDERS || SECONDS > deadline)) && break
    sleep 1
  done
  sleep 2 # a second firing of any, if one could happen, would show by now
  for pid in "${pids[@]}"; do stop "$pid"; done
  REMINDER_ROW=$(psql -Atq -F' ' "$url" -c "
    WITH fired AS (
      SELECT e.task_id, count(*) AS n,
        min(extract(epoch FROM e.occurred_at - t.remind_at) * 1000) AS late_ms
      FROM task_events e JOIN tasks t ON t.id = e.task_id
      WHERE e.kind = 4 GROUP BY e.task_id)
    SELECT sum(n), count(*), count(*) FILTER (WHERE n > 1),
      round(percentile_cont(0.5) WITHIN GROUP (ORDER BY late_ms)::numeric, 1),
      round(percentile_cont(0.99) WITHIN GROUP (ORDER BY late_ms)::numeric, 1),
      round(max(late_ms)::numeric, 1)
    FROM fired")
}

# The recurring chain: each answer names the next occurrence, which the
# next request completes (c=1: one chain).
organise_recurring_lua() { # first_task_id
  cat >"$WORK/lua/complete-recurring.lua" <<EOF
-- wrk script: complete a recurring task, then the occurrence that created.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local next_id = "$1"
gql_errors = 0
local query = 'mutation(\$id: ID!) { updateTask(input: {id: \$id, done: true}) { task { id done version } nextOccurrence { id dueAt } } }'
function request()
  return wrk.format(nil, nil, nil, '{"query":"' .. query .. '","variables":{"id":"' .. next_id .. '"}}')
end
function response(status, headers, body)
  local id = string.match(body, '"nextOccurrence":{"id":"([^"]+)"')
  if id then next_id = id else gql_errors = gql_errors + 1 end
end
function done(summary, latency, requests)
  io.write(string.format("GraphQL errors: %d\n", gql_errors))
end
EOF
}

run_organise_bench() {
  local spread_row burst_row url port=$((PORT + 60)) first round cells=() row
  log "reminders: $ORGANISE_REMINDERS due within one minute, three replicas"
  organise_reminders spread 60; spread_row=$REMINDER_ROW
  log "reminders: $ORGANISE_REMINDERS due at one instant, three replicas"
  organise_reminders burst 0; burst_row=$REMINDER_ROW

  fresh_db "todo_bench_recurring_$$"; url=$FRESH_URL
  migrate_and_seed "$BIN" "$url" "organise: recurring completion's database"
  organise_start "$port" "$url" "$WORK/organise-recurring.log"
  # A daily task with two sub-tasks and a category: what a completion copies.
  first=$(curl -fs "http://127.0.0.1:$port/graphql" -H 'content-type: application/json' -d '{"query":"mutation { createTask(input: {description: \"Water the plants\", dueAt: \"2027-01-01T08:00:00Z\", recurrence: \"FREQ=DAILY\", timeZone: \"Europe/Berlin\"}) { task { id } } }"}' \
    | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
  [[ -n $first ]] || die "organise: the recurring task was not created"
  for sub in "Fill the can" "Check the soil"; do
    curl -fs "http://127.0.0.1:$port/graphql" -H 'content-type: application/json' \
      -d "{\"query\":\"mutation { createTask(input: {description: \\\"$sub\\\", parentId: \\\"$first\\\"}) { task { id } } }\"}" >/dev/null \
      || die "organise: a sub-task was not created"
  done
  organise_recurring_lua "$first"
  for round in 1 2; do
    row=$(run_wrk "$port" update 1 "$SECS"); cells+=("update $row")
    row=$(run_wrk "$port" move 1 "$SECS"); cells+=("move $row")
    row=$(run_wrk "$port" complete-recurring 1 "$SECS"); cells+=("complete-recurring $row")
  done
  stop "$ORGANISE_PID"
  drop_fresh_dbs

  {
    echo "## Organising tasks: reminders and recurring completion"
    echo
    echo "Reminders: $ORGANISE_REMINDERS tasks with a \`remindAt\` from 10 s after they were"
    echo "written, fired by three api replicas on one PostgreSQL database (each polls every"
    echo "0.25 s, \`REMINDERS_POLL_INTERVAL\`). Spread: the times evenly over one minute; burst:"
    echo "all on one instant. Lateness: from \`remindAt\` to the time recorded with the"
    echo "\`REMINDER_DUE\` event (just before its transaction commits), per task."
    echo
    echo "| due | fired | distinct tasks | fired twice | lateness p50 (ms) | p99 (ms) | max (ms) |"
    echo "|---|---|---|---|---|---|---|"
    read -r a b c d e f <<<"$spread_row"
    echo "| within one minute | $a | $b | $c | $d | $e | $f |"
    read -r a b c d e f <<<"$burst_row"
    echo "| on one instant | $a | $b | $c | $d | $e | $f |"
    echo
    echo "Against a plain \`updateTask\` of a description (\`update\`), one api, c=1, in turn, twice"
    echo "(averaged): \`moveTask\` of a hot task to the end of its list (\`move\`: its list's lock,"
    echo "the neighbour's key, one row and one event), and completing a recurring task"
    echo "(\`complete-recurring\`: the update, the next occurrence placed after it, its two"
    echo "sub-tasks' copies and their events, in one transaction)."
    echo
    echo "| mutation | req/s | p50 (ms) | p99 (ms) | errors |"
    echo "|---|---|---|---|---|"
    printf '%s\n' "${cells[@]}" | awk '
      { n[$1]++; rps[$1] += $2; p50[$1] += $3; p99[$1] += $4; err[$1] += $5 }
      END {
        split("update move complete-recurring", order, " ")
        for (i = 1; i <= 3; i++) {
          k = order[i]
          if (n[k]) printf "| %s | %.0f | %.2f | %.2f | %d |\n", k, rps[k] / n[k], p50[k] / n[k], p99[k] / n[k], err[k]
        }
        if (n["update"] && rps["update"] > 0)
          printf "\nAgainst the plain update'"'"'s rate: a move %.2fx, a recurring completion %.2fx.\n", rps["move"] / rps["update"], rps["complete-recurring"] / rps["update"]
      }'
  } >"$WORK/organise.md"
}
