# Sourced by bench/run: what PostgreSQL row-level security costs.
#   One database owned by a role that is no superuser (superusers pass
#   row-level security, so the policies would cost nothing and prove
#   nothing), seeded once; the api runs on it with DB_ROW_LEVEL_SECURITY
#   off and on, alternately, twice each: list20 and create at c=1 and 16.
#   Turning it off again between rounds is the ALTER TABLE the api's refusal
#   message names. With BENCH_RLS_BASELINE (a directory holding an earlier
#   build's api), that api runs the same cells with it on too, in the same
#   rounds ("before"), so the change in what it costs is measured side by
#   side.
# Uses BIN, PG_ADMIN_URL, PG_BASE, PG_QUERY, PORT, WORK, log, die and
# side_cells of bench/run. Writes $WORK/rls.md.

RLS_ROLE=todo_bench_rls

rls_set() { # url on|off
  local tables statement
  tables=$(psql -Atq "$1" -c "SELECT string_agg(tablename, ' ') FROM pg_tables
    WHERE schemaname = 'public' AND tablename IN ('tasks', 'categories', 'task_categories', 'task_events')")
  for table in $tables; do
    if [[ $2 == off ]]; then
      statement="ALTER TABLE $table NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY"
    else
      statement="ALTER TABLE $table ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY"
    fi
    psql -q "$1" -c "$statement" >/dev/null || die "cannot turn row-level security $2 on $table"
  done
}

run_rls_bench() {
  : >"$WORK/rls-cells"
  local db="todo_bench_rls_$$" url
  psql -q "$PG_ADMIN_URL" -c "DO \$\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$RLS_ROLE')
      THEN CREATE ROLE $RLS_ROLE LOGIN NOSUPERUSER NOBYPASSRLS; END IF; END \$\$" >/dev/null \
    || die "cannot create role $RLS_ROLE"
  psql -q "$PG_ADMIN_URL" -c "CREATE DATABASE \"$db\" OWNER $RLS_ROLE" >/dev/null
  # The same server and options as the admin URL, as the table-owning role.
  url=$(sed -E "s#^(postgres(ql)?://)[^@/]*@#\1$RLS_ROLE@#" <<<"${PG_BASE%/*}/$db$PG_QUERY")
  migrate_and_seed "$BIN" "$url" "rls: $db as $RLS_ROLE"
  for round in 1 2; do
    log "rls: round $round"
    side_cells off $((PORT + 30)) "$BIN/api" "list20 create" "$WORK/rls-cells" \
      DATABASE_URL="$url" DB_ROW_LEVEL_SECURITY=false
    side_cells on $((PORT + 30)) "$BIN/api" "list20 create" "$WORK/rls-cells" \
      DATABASE_URL="$url" DB_ROW_LEVEL_SECURITY=true
    if [[ -n ${BENCH_RLS_BASELINE:-} ]]; then
      side_cells before $((PORT + 30)) "$BENCH_RLS_BASELINE/api" "list20 create" \
        "$WORK/rls-cells" DATABASE_URL="$url" DB_ROW_LEVEL_SECURITY=true
    fi
    rls_set "$url" off
  done
  psql -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true

  {
    echo "## Row-level security: what it costs"
    echo
    echo "\`DB_ROW_LEVEL_SECURITY=true\` against off, on one seeded PostgreSQL database owned"
    echo "by a role without superuser or BYPASSRLS; off and on alternately, twice each"
    echo "(means). With it on, every read and change runs in a transaction whose BEGIN"
    echo "sets \`app.owner_id\` in the same message (a read ends by dropping it: its"
    echo "ROLLBACK goes with the pool's ping on release), and the policies add"
    echo "\`owner_id = current_setting(...)\`."
    echo
    if [[ -n ${BENCH_RLS_BASELINE:-} ]]; then
      echo "Before: \`$BENCH_RLS_BASELINE/api\` with it on, in the same rounds."
      echo
      echo "| scenario | c | off req/s | on req/s | on/off | before req/s | before/off | off p99 ms | on p99 ms | before p99 ms |"
      echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    else
      echo "| scenario | c | off req/s | on req/s | on/off | off p99 ms | on p99 ms |"
      echo "|---|---:|---:|---:|---:|---:|---:|"
    fi
    for scenario in list20 create; do
      for c in 1 16; do
        awk -v s="$scenario" -v c="$c" '
          $2 == s && $3 == c { n[$1]++; rps[$1] += $4; p99[$1] += $6 }
          END {
            off = rps["off"] / n["off"]; on = rps["on"] / n["on"]
            if (n["before"] > 0) {
              before = rps["before"] / n["before"]
              printf "| %s | %s | %d | %d | %.2f | %d | %.2f | %.2f | %.2f | %.2f |\n", s, c,
                off, on, (off > 0 ? on / off : 0), before, (off > 0 ? before / off : 0),
                p99["off"] / n["off"], p99["on"] / n["on"], p99["before"] / n["before"]
            } else {
              printf "| %s | %s | %d | %d | %.2f | %.2f | %.2f |\n", s, c, off, on,
                (off > 0 ? on / off : 0), p99["off"] / n["off"], p99["on"] / n["on"]
            }
          }' "$WORK/rls-cells"
      done
    done
  } >"$WORK/rls.md"
}
