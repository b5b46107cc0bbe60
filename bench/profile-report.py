#!/usr/bin/env python3
"""Where a perf profile of the api went, by component.

Reads `perf script -F comm,tid,ip,sym` (recorded with call graphs) on stdin.
A sample counts for the database driver, sea-orm, parsing, validation or JSON
if any frame of its stack is theirs (so malloc called by the driver counts as
the driver); otherwise for the first component found from the leaf up. Also
prints the top leaf symbols. Used by `bench/profile`."""
import re, sys, collections

# Checked over the whole stack, in this order: where the time was spent on
# behalf of the database, parsing, validation or JSON, wherever it sits.
WHOLE_STACK = [
    ("db driver: sqlx pool (acquire, release ping)", r"sqlx_core::pool|return_to_pool|as sqlx_core::connection::Connection>::ping"),
    ("db driver: sqlx query, socket, row decode", r"sqlx_postgres|sqlx_core|sea_query_sqlx|sqlx_sqlite"),
    ("sea-orm/sea-query: statement building, row mapping", r"sea_query::|sea_orm::|FromQueryResult|TryGetable"),
    ("graphql: parse", r"async_graphql_parser|pest::"),
    ("graphql: validation", r"async_graphql::validation"),
    ("json: response serialisation", r"serde_json::ser|value_serde|json_response"),
    ("json: request parsing", r"serde_json::de|parse_body"),
]
COMPONENTS = [
    # (name, pattern on a frame), checked leaf-to-root; first hit wins.
    ("tracing, metrics", r"tracing_subscriber|tracing_core|metrics_exporter_prometheus|metrics_util|^metrics::"),
    ("graphql: execution (resolvers, extensions, dataloaders)", r"async_graphql::|api::graphql::|api::service::"),
    ("http: hyper, axum, tower", r"hyper::|hyper_util::|axum::|tower::|tower_http::|http::"),
    ("tokio runtime, wakeups", r"tokio::"),
]
LEAF_GROUPS = [
    ("allocator", r"mi_|_mi_|malloc|free|realloc|calloc"),
    ("kernel", r"^\[k\]|entry_SYSCALL|__x64_sys|do_syscall"),
]

def main():
    comp = collections.Counter()
    leaf = collections.Counter()
    alloc_by_comp = collections.Counter()
    total = 0
    stack = []
    comm = None
    def flush():
        nonlocal total
        if not stack or comm is None:
            return
        total += 1
        name = "other"
        for cname, pat in WHOLE_STACK:
            if any(re.search(pat, f) for f in stack):
                name = cname
                break
        for frame in ([] if name != "other" else stack):
            for cname, pat in COMPONENTS:
                if re.search(pat, frame):
                    name = cname
                    break
            if name != "other":
                break
        if comm != "tokio-rt-worker" and name == "other":
            name = "other threads (" + comm + ")"
        comp[name] += 1
        leaf[stack[0]] += 1
        if re.search(LEAF_GROUPS[0][1], stack[0]):
            alloc_by_comp[name] += 1
    for line in sys.stdin:
        if not line.strip():
            flush(); stack = []; comm = None
            continue
        if not line.startswith("\t") and not line.startswith(" "):
            flush(); stack = []
            comm = line.split()[0]
            continue
        parts = line.strip().split(None, 1)
        sym = parts[1] if len(parts) > 1 else "?"
        sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
        stack.append(sym)
    flush()
    print(f"{total} samples\n\nby component:")
    for name, n in comp.most_common():
        a = alloc_by_comp[name]
        print(f"  {100*n/total:5.1f} %  {name}" + (f"  (of which allocator {100*a/total:.1f} %)" if a else ""))
    print("\ntop 30 leaf symbols:")
    for sym, n in leaf.most_common(30):
        print(f"  {100*n/total:5.1f} %  {sym[:150]}")


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        pass
