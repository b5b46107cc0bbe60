# Sourced by bench/run: full-text search against the substring search it
#   replaced. The baseline is the build before full-text search
#   (BENCH_SEARCH_BASELINE_REV), built as the dist profile builds, on its own
#   fresh database and SQLite file migrated and seeded by its own binaries
#   (the seed is the same); this build runs on bench/run's databases. The
#   three search documents at c=1 and 16, the two builds alternately, twice
#   each (means).
# Uses BIN, BACKENDS, PG_ADMIN_URL, PG_BASE, PG_QUERY, PG_URL, SQLITE_URL,
# PORT, ROOT, SEARCHES, WORK, log, die, baseline_build, side_cells and side_rows of
# bench/run. Writes $WORK/search.md.

# The list code of the scale work, no full-text search yet, the same seed.
SEARCH_BASELINE_REV=${BENCH_SEARCH_BASELINE_REV:-e0a9b3b}

run_search_bench() {
  : >"$WORK/search-cells"
  local rev dir=$ROOT/target/bench-search-baseline db="todo_bench_like_$$" base_pg base_sqlite
  rev=$(git -C "$ROOT" rev-parse --short "$SEARCH_BASELINE_REV" 2>/dev/null) \
    || { log "search: $SEARCH_BASELINE_REV not in this clone, section skipped"; return 0; }
  log "search: building the baseline $rev (substring search)"
  baseline_build "$rev" "$dir"

  psql -q "$PG_ADMIN_URL" -c "CREATE DATABASE \"$db\"" >/dev/null
  base_pg="${PG_BASE%/*}/$db$PG_QUERY"
  base_sqlite="sqlite://$WORK/like.db?mode=rwc"
  for backend in $BACKENDS; do
    local base=$base_pg this=$PG_URL
    [[ $backend == sqlite ]] && { base=$base_sqlite; this=$SQLITE_URL; }
    migrate_and_seed "$dir/release" "$base" "search: the baseline's $backend database"
    for round in 1 2; do
      log "search: $backend round $round"
      side_cells "like $backend" $((PORT + 40)) "$dir/release/api" "$SEARCHES" \
        "$WORK/search-cells" DATABASE_URL="$base"
      side_cells "fts $backend" $((PORT + 40)) "$BIN/api" "$SEARCHES" \
        "$WORK/search-cells" DATABASE_URL="$this"
    done
  done
  psql -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true

  {
    echo "## Search: full-text against the substring search it replaced"
    echo
    echo "The three search documents (first 20 with \`totalCount\`): \`plumber\` (one task in"
    echo "16), \`quarterly report\` (two words of one seeded phrase), \`plum\` (a prefix)."
    echo "Substring = the build before full-text search (\`$rev\`: \`LIKE '%...%'\` on the"
    echo "description), on its own database seeded with the same rows; full-text = this"
    echo "build. Alternately, twice each (means)."
    echo
    echo "| backend | scenario | c | substring req/s | full-text req/s | ratio | substring p99 ms | full-text p99 ms | errors |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    side_rows "$WORK/search-cells" like fts "$SEARCHES"
  } >"$WORK/search.md"
}
