//! The scale run's measurements (`bench/scale` seeds and starts the api):
//! every task list order x direction x filter, as the real GraphQL document
//! over HTTP to a running api, a first page and a page from the middle of
//! the list (its cursor made for a row found with OFFSET straight in the
//! database, and the page checked against the rows that follow it there);
//! `totalCount` per filter; what counting costs; and the plans of the
//! slowest requests. Beside each request's time over HTTP, the time of its
//! SQL alone (`sql.rs`).
//!
//! Usage: `scale GRAPHQL_URL DATABASE_URL TASKS`; Markdown on stdout,
//! progress on stderr.

mod sql;

use std::process::ExitCode;
use std::time::Instant;

use api::graphql::ids::{self, NodeKind};
use api::service::page::Direction;
use api::service::tasks::{TaskOrder, TaskOrderField, cursor_of};
use bench::{DataSet, category_id, task_id};
use entity::task;
use sea_orm::sea_query::{Alias, Asterisk, Expr, ExprTrait, Func, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, Database, DatabaseConnection, EntityTrait, Order,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};
use serde_json::{Value, json};

/// Requests per measurement, after one warm-up; the median is reported.
const REPEATS: usize = 5;
/// What a page may cost: the budget every cell of the scale run is held to.
const BUDGET_MS: f64 = 10.0;
const PAGE: u64 = 20;

const LIST: &str = "query Scale($filter: TaskFilter, $orderBy: [TaskOrder!], $after: String) { \
    tasks(first: 20, filter: $filter, orderBy: $orderBy, after: $after) { \
    nodes { id description priority startAt dueAt done createdAt } \
    pageInfo { hasNextPage endCursor } } }";
const COUNT: &str =
    "query ScaleCount($filter: TaskFilter) { tasks(filter: $filter) { totalCount } }";

const ORDERS: [(&str, TaskOrderField); 5] = [
    ("CREATED_AT", TaskOrderField::CreatedAt),
    ("UPDATED_AT", TaskOrderField::UpdatedAt),
    ("DUE_AT", TaskOrderField::DueAt),
    ("PRIORITY", TaskOrderField::Priority),
    ("DESCRIPTION", TaskOrderField::Description),
];
const DIRECTIONS: [(&str, Direction); 2] = [("ASC", Direction::Asc), ("DESC", Direction::Desc)];

/// One filter: as the client sends it, and the same rows in plain SQL.
struct Filter {
    name: &'static str,
    graphql: Value,
    sql: Condition,
}

fn filters(set: DataSet) -> Vec<Filter> {
    let (after, before) = ("2025-06-01T00:00:00Z", "2025-06-08T00:00:00Z");
    let time = |s: &str| chrono::DateTime::parse_from_rfc3339(s).map(|t| t.to_utc());
    let (Ok(after_t), Ok(before_t)) = (time(after), time(before)) else {
        return Vec::new();
    };
    let category = category_id(7);
    let project = task_id(set.project(0));
    let links = Query::select()
        .column(Alias::new("task_id"))
        .from(Alias::new("task_categories"))
        .and_where(Expr::col(Alias::new("category_id")).eq(category))
        .to_owned();
    let owner = || Condition::all().add(task::Column::OwnerId.eq(bench::OWNER));
    vec![
        Filter {
            name: "none",
            graphql: json!({}),
            sql: owner(),
        },
        Filter {
            name: "done",
            graphql: json!({ "done": true }),
            sql: owner().add(task::Column::Done.eq(true)),
        },
        Filter {
            name: "priority HIGH",
            graphql: json!({ "priority": ["HIGH"] }),
            sql: owner().add(task::Column::Priority.eq(3)),
        },
        Filter {
            name: "topLevel",
            graphql: json!({ "topLevel": true }),
            sql: owner().add(task::Column::ParentId.is_null()),
        },
        Filter {
            name: "due in one week",
            graphql: json!({ "dueAfter": after, "dueBefore": before }),
            sql: owner()
                .add(task::Column::DueAt.gt(after_t))
                .add(task::Column::DueAt.lt(before_t)),
        },
        Filter {
            name: "one category",
            graphql: json!({ "categoryIds": [ids::encode(NodeKind::Category, category).0] }),
            sql: owner().add(task::Column::Id.in_subquery(links)),
        },
        Filter {
            name: "parentId (a project)",
            graphql: json!({ "parentId": ids::encode(NodeKind::Task, project).0 }),
            sql: owner().add(task::Column::ParentId.eq(project)),
        },
    ]
}

/// One measured request.
struct Cell {
    label: String,
    http_ms: f64,
    sql_ms: f64,
    statements: Vec<Statement>,
}

impl Cell {
    /// "http (sql)", bold over the budget.
    fn show(&self) -> String {
        let http = format!("{:.1}", self.http_ms);
        let http = if self.http_ms > BUDGET_MS {
            format!("**{http}**")
        } else {
            http
        };
        format!("{http} ({:.1})", self.sql_ms)
    }
}

struct Run {
    http: reqwest::Client,
    url: String,
    db: DatabaseConnection,
    probe: sql::Probe,
}

impl Run {
    /// POSTs `body`; its `data`, or why not.
    async fn post(&self, body: &Value) -> Result<Value, String> {
        let answer: Value = self
            .http
            .post(&self.url)
            .json(body)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        if answer.get("errors").is_some() {
            return Err(answer.to_string());
        }
        Ok(answer["data"].clone())
    }

    /// `body` measured: the median time over HTTP and of its SQL alone;
    /// and its last answer.
    async fn measure(&self, label: String, body: &Value) -> Result<(Cell, Value), String> {
        let failed = |e: String| format!("{label}: {e}");
        let mut data = self.post(body).await.map_err(failed)?;
        let mut times = Vec::with_capacity(REPEATS);
        for _ in 0..REPEATS {
            let started = Instant::now();
            data = self.post(body).await.map_err(failed)?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        let statements = self.probe.statements(body).await.map_err(failed)?;
        let sql_ms = sql::time(&self.db, &statements, REPEATS)
            .await
            .map_err(failed)?;
        let cell = Cell {
            label,
            http_ms: times[REPEATS / 2],
            sql_ms,
            statements,
        };
        Ok((cell, data))
    }

    async fn matching(&self, filter: &Filter) -> Result<u64, String> {
        task::Entity::find()
            .filter(filter.sql.clone())
            .count(&self.db)
            .await
            .map_err(|e| e.to_string())
    }

    /// `n` of the filter's rows in `order` from `offset` on, straight from
    /// the database (ordered independently of the api: NULLs by `IS NULL`).
    async fn rows(
        &self,
        filter: &Filter,
        field: TaskOrderField,
        direction: Direction,
        offset: u64,
        n: u64,
    ) -> Result<Vec<task::Model>, String> {
        let order = match direction {
            Direction::Asc => Order::Asc,
            Direction::Desc => Order::Desc,
        };
        let mut select = task::Entity::find().filter(filter.sql.clone());
        select = match field {
            TaskOrderField::CreatedAt => select.order_by(task::Column::CreatedAt, order.clone()),
            TaskOrderField::UpdatedAt => select.order_by(task::Column::UpdatedAt, order.clone()),
            TaskOrderField::DueAt => select
                .order_by(
                    Expr::col((task::Entity, task::Column::DueAt)).is_null(),
                    Order::Asc,
                )
                .order_by(task::Column::DueAt, order.clone()),
            TaskOrderField::Priority => select.order_by(task::Column::Priority, order.clone()),
            TaskOrderField::Description => {
                select.order_by(task::Column::Description, order.clone())
            }
            TaskOrderField::Position => select.order_by(task::Column::Position, order.clone()),
            // Relevance needs a search, which the scale run does not time
            // (the search scenarios of bench/run do).
            TaskOrderField::Relevance => return Err("RELEVANCE is not a scale order".into()),
        };
        select
            .order_by(task::Column::Id, order)
            .offset(offset)
            .limit(n)
            .all(&self.db)
            .await
            .map_err(|e| e.to_string())
    }
}

fn gid(t: &task::Model) -> Value {
    json!(ids::encode(NodeKind::Task, t.id).0)
}

fn page_ids(data: &Value) -> Vec<Value> {
    data["tasks"]["nodes"]
        .as_array()
        .map(|nodes| nodes.iter().map(|n| n["id"].clone()).collect())
        .unwrap_or_default()
}

async fn lists(run: &Run, set: DataSet, out: &mut String) -> Result<Vec<Cell>, String> {
    let mut cells = Vec::new();
    out.push_str(
        "| order | filter | rows | ASC first | ASC middle | DESC first | DESC middle |\n\
         |---|---|---:|---:|---:|---:|---:|\n",
    );
    for (order_name, field) in ORDERS {
        for filter in filters(set) {
            let mut row = String::new();
            let n = run.matching(&filter).await?;
            for (dir_name, direction) in DIRECTIONS {
                let order = json!([{ "field": order_name, "direction": dir_name }]);
                let label = format!("{order_name} {dir_name}, {}", filter.name);
                let first = json!({ "query": LIST, "variables": {
                    "filter": filter.graphql, "orderBy": order } });
                let (first, data) = run.measure(format!("{label}, first page"), &first).await?;
                let head = run.rows(&filter, field, direction, 0, PAGE).await?;
                if page_ids(&data) != head.iter().map(gid).collect::<Vec<_>>() {
                    return Err(format!("{label}: the first page is not the database's"));
                }

                let rows = run.rows(&filter, field, direction, n / 2, PAGE + 1).await?;
                let Some((at, expected)) = rows.split_first() else {
                    return Err(format!("{label}: no rows"));
                };
                let cursor = cursor_of(vec![TaskOrder { field, direction }], at);
                let middle = json!({ "query": LIST, "variables": {
                    "filter": filter.graphql, "orderBy": order, "after": cursor } });
                let (middle, data) = run
                    .measure(format!("{label}, page after row {}", n / 2), &middle)
                    .await?;
                if page_ids(&data) != expected.iter().map(gid).collect::<Vec<_>>() {
                    return Err(format!(
                        "{label}: the page after row {} is not the database's next rows",
                        n / 2
                    ));
                }
                eprintln!(
                    "  {label}: first {}, middle {}",
                    first.show(),
                    middle.show()
                );
                row.push_str(&format!(" {} | {} |", first.show(), middle.show()));
                cells.push(first);
                cells.push(middle);
            }
            out.push_str(&format!("| {order_name} | {} | {n} |{row}\n", filter.name));
        }
    }
    Ok(cells)
}

async fn counts(run: &Run, set: DataSet, out: &mut String) -> Result<(), String> {
    out.push_str("\n| `totalCount` alone, filter | rows | ms (SQL) |\n|---|---:|---:|\n");
    for filter in filters(set) {
        let body = json!({ "query": COUNT, "variables": { "filter": filter.graphql } });
        let (cell, data) = run
            .measure(format!("totalCount, {}", filter.name), &body)
            .await?;
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            filter.name,
            data["tasks"]["totalCount"],
            cell.show()
        ));
    }
    out.push_str("\n| `count(*)` in SQL | rows | ms |\n|---|---:|---:|\n");
    for (what, owner) in [
        ("whole table (no owner)", None),
        ("owner `default` (every row)", Some(bench::OWNER)),
        ("an owner with no rows", Some("nobody")),
    ] {
        let mut select = Query::select()
            .expr(Func::count(Expr::col(Asterisk)))
            .from(task::Entity)
            .to_owned();
        if let Some(owner) = owner {
            select.and_where(Expr::col(task::Column::OwnerId).eq(owner));
        }
        let mut times = Vec::new();
        let mut n = 0;
        for _ in 0..=REPEATS {
            let started = Instant::now();
            n = run
                .db
                .query_one(&select)
                .await
                .map_err(|e| e.to_string())?
                .map(|row| row.try_get_by_index::<i64>(0))
                .transpose()
                .map_err(|e| e.to_string())?
                .unwrap_or(0);
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        times.remove(0);
        times.sort_by(f64::total_cmp);
        out.push_str(&format!("| {what} | {n} | {:.1} |\n", times[REPEATS / 2]));
    }
    Ok(())
}

async fn main_() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [graphql_url, database_url, tasks] = args.as_slice() else {
        return Err("usage: scale GRAPHQL_URL DATABASE_URL TASKS".into());
    };
    let set = DataSet::new(tasks.parse().map_err(|_| "TASKS must be a number")?);
    let run = Run {
        http: reqwest::Client::new(),
        url: graphql_url.clone(),
        db: Database::connect(database_url.as_str())
            .await
            .map_err(|e| e.to_string())?,
        probe: sql::Probe::start(database_url).await?,
    };
    let started = Instant::now();
    let mut out = String::new();
    let cells = lists(&run, set, &mut out).await?;
    let over = cells.iter().filter(|c| c.http_ms > BUDGET_MS).count();
    out.push_str(&format!(
        "\nEach cell: ms over HTTP (ms of its SQL alone). {} requests, {over} over \
         {BUDGET_MS} ms.\n",
        cells.len()
    ));
    counts(&run, set, &mut out).await?;

    let slowest = |key: fn(&Cell) -> f64| cells.iter().max_by(|a, b| key(a).total_cmp(&key(b)));
    let mut shown: Vec<(&str, &Cell)> = Vec::new();
    if let Some(cell) = slowest(|c| c.http_ms) {
        shown.push(("slowest over HTTP", cell));
    }
    if let Some(cell) = slowest(|c| c.sql_ms) {
        shown.push(("slowest SQL", cell));
    }
    // What is due next, deep in the list: the case the scale run was made
    // for, shown even when it is not the slowest.
    if let Some(cell) = cells
        .iter()
        .find(|c| c.label.starts_with("DUE_AT DESC, none, page after"))
    {
        shown.push(("DUE_AT", cell));
    }
    let mut explained: Vec<&str> = Vec::new();
    for (why, cell) in shown {
        if explained.contains(&cell.label.as_str()) {
            continue;
        }
        explained.push(&cell.label);
        out.push_str(&format!(
            "\nPlan of the {why}, {} ({}):\n\n```\n{}```\n",
            cell.label,
            cell.show(),
            sql::explain(&run.db, &cell.statements).await?
        ));
    }
    run.probe.stop();
    eprintln!("scale run took {:.0} s", started.elapsed().as_secs_f64());
    print!("{out}");
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match main_().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("scale: {err}");
            ExitCode::FAILURE
        }
    }
}
