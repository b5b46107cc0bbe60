# Sourced by bench/run when BENCH_AB_REV names a revision: this build and
#   that revision's, built alike (baseline_build), serve the same seeded
#   databases in turn, cell by cell for BENCH_AB_SCENARIOS (default: the
#   reads and the searches) at c=1 and 16, three rounds each (means), each
#   build first in turn. For a change that keeps the schema: the earlier api
#   runs on this build's databases, so both read the same rows.
# Uses BIN, BACKENDS, PG_URL, SQLITE_URL, PORT, ROOT, READS, SEARCHES, WORK,
# log, baseline_build, side_cells and side_rows of bench/run. Writes $WORK/ab.md.

run_ab_bench() {
  : >"$WORK/ab-cells"
  local rev dir=$ROOT/target/bench-ab-baseline scenarios=${BENCH_AB_SCENARIOS:-"$READS $SEARCHES"}
  rev=$(git -C "$ROOT" rev-parse --short "$BENCH_AB_REV" 2>/dev/null) \
    || { log "ab: $BENCH_AB_REV not in this clone, section skipped"; return 0; }
  log "ab: building $rev"
  baseline_build "$rev" "$dir"
  for backend in $BACKENDS; do
    local url=$PG_URL
    [[ $backend == sqlite ]] && url=$SQLITE_URL
    for round in 1 2 3; do
      log "ab: $backend round $round"
      # Each build goes first in turn: the one that follows inherits the
      # other's warm caches and the machine's drift.
      local side
      for side in $( ((round % 2)) && echo "before after" || echo "after before"); do
        if [[ $side == before ]]; then
          side_cells "before $backend" $((PORT + 70)) "$dir/release/api" "$scenarios" \
            "$WORK/ab-cells" DATABASE_URL="$url"
        else
          side_cells "after $backend" $((PORT + 70)) "$BIN/api" "$scenarios" \
            "$WORK/ab-cells" DATABASE_URL="$url"
        fi
      done
    done
  done

  {
    echo "## This build against $rev, side by side"
    echo
    echo "\`BENCH_AB_REV=$rev\`: that revision's api and this build's in turn on the same"
    echo "databases (this build's, seeded as above), three rounds of every cell (means)."
    echo
    echo "| backend | scenario | c | $rev req/s | this req/s | ratio | $rev p99 ms | this p99 ms | errors |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    side_rows "$WORK/ab-cells" before after "$scenarios"
  } >"$WORK/ab.md"
}
