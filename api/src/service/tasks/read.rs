//! Reading tasks: lists with their filters and keyset pages, counts, nested
//! lists of many holders (parents, categories) in one statement, and
//! lookups by id; all of one owner's tasks only.

use std::collections::HashMap;

use entity::{category, task, task_category};
use sea_orm::sea_query::{
    Alias, Asterisk, Condition, Expr, ExprTrait, Func, OverStatement, Query, SelectStatement,
    WindowStatement,
};
use sea_orm::{
    ActiveEnum, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, Iterable,
    QueryFilter, QueryResult, prelude::Uuid,
};

use super::requests::{Holder, TaskFilter, TaskOrder, TaskOrderField};
use super::shape::{self, DueRange, Shape};
use crate::error::{AppError, AppResult};
use crate::service::Scoped;
use crate::service::page::{
    Direction, KeyKind, KeyValue, ListOrder, ListQuery, Page, SortKey, count_rows, cursor_bounds,
    encode_cursor, fetch_page, into_page, normalise, order_terms, signature,
};
use crate::service::search::SearchSql;

/// A validated task list request.
pub type TaskListQuery = ListQuery<TaskFilter, TaskOrder>;

impl ListOrder for TaskOrder {
    type Field = TaskOrderField;
    type Model = Listed;
    type Filter = TaskFilter;
    const DEFAULT: Self = TaskOrder {
        field: TaskOrderField::CreatedAt,
        direction: Direction::Asc,
    };

    fn field(&self) -> TaskOrderField {
        self.field
    }

    fn sort_keys(order: &[Self]) -> Vec<SortKey<Listed>> {
        sort_keys(order, None)
    }

    fn check(filter: &TaskFilter, order: &[Self]) -> AppResult<()> {
        if filter.search.is_none() && ranks(order) {
            return Err(AppError::bad_input(
                "orderBy",
                "RELEVANCE orders by how well tasks match `filter.search`: give a search",
            ));
        }
        Ok(())
    }
}

/// The cursor a list in `order` gives `task`: where a page after (or before)
/// that row starts, for tools that begin deep in a list (the scale benchmark;
/// not for RELEVANCE, whose value is the search's).
pub fn cursor_of(order: Vec<TaskOrder>, task: &task::Model) -> String {
    let keys = sort_keys(&normalise(order), None);
    let listed = Listed {
        task: task.clone(),
        rank: 0.0,
    };
    encode_cursor(
        &signature(&keys),
        keys.iter().map(|k| (k.value_of)(&listed)).collect(),
    )
}

fn col(c: task::Column) -> Expr {
    Expr::col((task::Entity, c))
}

fn dated() -> Condition {
    Condition::all().add(col(task::Column::DueAt).is_not_null())
}

fn undated() -> Condition {
    Condition::all().add(col(task::Column::DueAt).is_null())
}

fn ranks(order: &[TaskOrder]) -> bool {
    order.iter().any(|o| o.field == TaskOrderField::Relevance)
}

/// The column every task list selects its search rank as.
const RANK: &str = "search_rank";

/// A task as a list reads it: the row and its search rank (0 unless the
/// list is ordered by relevance), which a relevance cursor keeps.
#[derive(Debug, Clone)]
pub struct Listed {
    task: task::Model,
    rank: f64,
}

impl FromQueryResult for Listed {
    fn from_query_result(row: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        Ok(Self {
            task: task::Model::from_query_result(row, pre)?,
            rank: row.try_get(pre, RANK)?,
        })
    }
}

/// The filter's search as this store's engine runs it.
fn search_sql(scope: &Scoped<'_>, filter: &TaskFilter) -> Option<SearchSql> {
    filter
        .search
        .as_ref()
        .map(|search| SearchSql::new(search, scope.backend(), scope.search_language()))
}

/// Narrows a select of tasks to the owner's that match `filter`, and adds
/// the rank column (what ranking needs, when `ranked`).
fn narrow(
    select: &mut SelectStatement,
    owner: &str,
    filter: &TaskFilter,
    due: DueRange,
    search: Option<&SearchSql>,
    ranked: bool,
) {
    select.cond_where(filter_condition_as(owner, filter, due));
    let rank = match search {
        Some(search) => {
            search.apply(select, ranked);
            if ranked {
                search.rank()
            } else {
                Expr::val(0.0_f64)
            }
        }
        None => Expr::val(0.0_f64),
    };
    select.expr_as(rank, Alias::new(RANK));
}

/// The ORDER BY of a task list: the requested fields, then `id` to break ties.
/// Tasks without a due date sort after those with one, in both directions.
pub(super) fn sort_keys(order: &[TaskOrder], search: Option<&SearchSql>) -> Vec<SortKey<Listed>> {
    let mut keys = Vec::with_capacity(order.len() + 2);
    for o in order {
        let d = o.direction;
        match o.field {
            TaskOrderField::Relevance => keys.push(SortKey {
                expr: search.map_or_else(|| Expr::val(0.0_f64), SearchSql::rank),
                direction: d,
                kind: KeyKind::Float,
                value_of: |t: &Listed| KeyValue::float(t.rank),
                rebound: search.and_then(SearchSql::rebound),
                groups: Vec::new(),
            }),
            TaskOrderField::CreatedAt => keys.push(SortKey {
                expr: col(task::Column::CreatedAt),
                direction: d,
                kind: KeyKind::Time,
                value_of: |t: &Listed| KeyValue::time(&t.task.created_at),
                rebound: None,
                groups: Vec::new(),
            }),
            TaskOrderField::UpdatedAt => keys.push(SortKey {
                expr: col(task::Column::UpdatedAt),
                direction: d,
                kind: KeyKind::Time,
                value_of: |t: &Listed| KeyValue::time(&t.task.updated_at),
                rebound: None,
                groups: Vec::new(),
            }),
            TaskOrderField::DueAt => {
                keys.push(SortKey {
                    expr: Expr::case(col(task::Column::DueAt).is_null(), 1)
                        .finally(0)
                        .into(),
                    direction: Direction::Asc,
                    kind: KeyKind::Int,
                    value_of: |t: &Listed| KeyValue::Int(i64::from(t.task.due_at.is_none())),
                    rebound: None,
                    groups: vec![(0, dated()), (1, undated())],
                });
                keys.push(SortKey {
                    expr: col(task::Column::DueAt),
                    direction: d,
                    kind: KeyKind::Time,
                    value_of: |t: &Listed| KeyValue::opt_time(&t.task.due_at),
                    rebound: None,
                    groups: Vec::new(),
                });
            }
            TaskOrderField::Priority => keys.push(SortKey {
                expr: col(task::Column::Priority),
                direction: d,
                kind: KeyKind::Int,
                value_of: |t: &Listed| KeyValue::Int(priority_value(t.task.priority)),
                rebound: None,
                groups: Vec::new(),
            }),
            TaskOrderField::Position => keys.push(SortKey {
                expr: col(task::Column::Position),
                direction: d,
                kind: KeyKind::Text,
                value_of: |t: &Listed| KeyValue::Text(t.task.position.clone()),
                rebound: None,
                groups: Vec::new(),
            }),
            TaskOrderField::Description => keys.push(SortKey {
                expr: col(task::Column::Description),
                direction: d,
                kind: KeyKind::Text,
                value_of: |t: &Listed| KeyValue::Text(t.task.description.clone()),
                rebound: None,
                groups: Vec::new(),
            }),
        }
    }
    let tie = order.last().map_or(Direction::Asc, |o| o.direction);
    keys.push(SortKey {
        expr: col(task::Column::Id),
        direction: tie,
        kind: KeyKind::Uuid,
        value_of: |t: &Listed| KeyValue::uuid(&t.task.id),
        rebound: None,
        groups: Vec::new(),
    });
    keys
}

/// A list led by PRIORITY and filtered by priorities reads each admitted
/// priority as its own range of (owner_id, priority, id): SQLite cannot
/// start a range at a row value whose first column the filter already pins.
fn split_by_priority(keys: &mut [SortKey<Listed>], order: &[TaskOrder], filter: &TaskFilter) {
    let (Some(first), Some(lead), Some(priorities)) =
        (order.first(), keys.first_mut(), &filter.priority)
    else {
        return;
    };
    if first.field != TaskOrderField::Priority {
        return;
    }
    let mut values: Vec<i64> = priorities.iter().map(|p| priority_value(*p)).collect();
    values.sort_unstable();
    values.dedup();
    lead.groups = values
        .into_iter()
        .map(|v| (v, Condition::all().add(col(task::Column::Priority).eq(v))))
        .collect();
}

fn priority_value(p: entity::Priority) -> i64 {
    i64::from(p.to_value())
}

/// The owner's tasks that match `filter`.
fn filter_condition(owner: &str, filter: &TaskFilter) -> Condition {
    filter_condition_as(owner, filter, DueRange::Indexed)
}

fn filter_condition_as(owner: &str, filter: &TaskFilter, due: DueRange) -> Condition {
    // `(due_at < $1) = TRUE` is no index range on SQLite; PostgreSQL folds
    // it back and chooses with its statistics, as it does well.
    let due_test = |c: Expr| match due {
        DueRange::Indexed => c,
        DueRange::Tested => c.eq(Expr::cust("TRUE")),
    };
    let mut cond = Condition::all().add(col(task::Column::OwnerId).eq(owner));
    if let Some(priorities) = &filter.priority {
        cond = cond
            .add(col(task::Column::Priority).is_in(priorities.iter().map(|p| priority_value(*p))));
    }
    if let Some(done) = filter.done {
        cond = cond.add(col(task::Column::Done).eq(done));
    }
    if let Some(before) = filter.due_before {
        cond = cond.add(due_test(col(task::Column::DueAt).lt(before)));
    }
    if let Some(after) = filter.due_after {
        cond = cond.add(due_test(col(task::Column::DueAt).gt(after)));
    }
    if let Some(ids) = &filter.category_ids {
        cond = cond.add(
            col(task::Column::Id).in_subquery(
                Query::select()
                    .column(task_category::Column::TaskId)
                    .from(task_category::Entity)
                    .and_where(
                        Expr::col(task_category::Column::CategoryId).is_in(ids.iter().copied()),
                    )
                    .to_owned(),
            ),
        );
    }
    if let Some(parent) = filter.parent_id {
        cond = cond.add(col(task::Column::ParentId).eq(parent));
    }
    match filter.top_level {
        Some(true) => cond = cond.add(col(task::Column::ParentId).is_null()),
        Some(false) => cond = cond.add(col(task::Column::ParentId).is_not_null()),
        None => {}
    }
    cond
}

fn select_tasks() -> SelectStatement {
    let mut select = Query::select();
    select
        .columns(task::Column::iter().map(|c| (task::Entity, c)))
        .from(task::Entity);
    select
}

/// One page of all tasks matching the query.
pub async fn list(scope: &Scoped<'_>, query: &TaskListQuery) -> AppResult<Page<task::Model>> {
    let mut search = search_sql(scope, &query.filter);
    let ranked = ranks(&query.order);
    let mut keys = sort_keys(&query.order, search.as_ref());
    split_by_priority(&mut keys, &query.order, &query.filter);
    if query.filter.due_before.is_some() || query.filter.due_after.is_some() {
        // No task without a due date is in a window: reading that group
        // would only scan it (SQLite does not see the contradiction).
        for key in &mut keys {
            key.groups.retain(|(_, c)| *c != undated());
        }
    }
    let page = scope
        .read(async |db| {
            let owner = scope.owner();
            // A ranked list sorts by the search's rank, which only the
            // search's own FROM can compute: it is read as planned.
            let shape = if ranked {
                Shape::Planned
            } else {
                shape::choose(db, owner, &query.filter, &query.order).await?
            };
            if let Some(search) = search.as_mut().filter(|_| !ranked)
                && shape::search_walks(db, search).await?
            {
                search.walk_order();
            }
            let mut select = select_tasks();
            narrow(
                &mut select,
                owner,
                &query.filter,
                shape.due_range(),
                search.as_ref(),
                ranked,
            );
            if shape == Shape::MatchingFirst {
                select = shape::matching_first(select);
                // A few thousand rows sort at once; split in groups, each
                // group's piece would read them all again.
                for key in &mut keys {
                    key.groups.clear();
                }
            }
            fetch_page(db, select, &keys, &query.page).await
        })
        .await?;
    Ok(page.map(|listed: Listed| listed.task))
}

pub async fn count(scope: &Scoped<'_>, filter: &TaskFilter) -> AppResult<u64> {
    let mut condition = filter_condition(scope.owner(), filter);
    if let Some(search) = search_sql(scope, filter) {
        condition = condition.add(search.condition());
    }
    scope
        .read(async |db| count_rows(db, task::Entity, condition).await)
        .await
}

/// Tasks below `holders` (parents, or categories through their links).
fn holder_select(kind: Holder, holders: &[Uuid]) -> (SelectStatement, Expr) {
    let mut select = select_tasks();
    let holder = match kind {
        Holder::Parent => col(task::Column::ParentId),
        Holder::Category => {
            select.inner_join(
                task_category::Entity,
                Expr::col((task_category::Entity, task_category::Column::TaskId))
                    .equals((task::Entity, task::Column::Id)),
            );
            Expr::col((task_category::Entity, task_category::Column::CategoryId))
        }
    };
    select.and_where(holder.clone().is_in(holders.iter().copied()));
    (select, holder)
}

/// One page per holder in a single statement: rows are numbered within each
/// holder by the list order, and only the first `limit + 1` of each are kept.
pub async fn list_scoped(
    owner: &Scoped<'_>,
    kind: Holder,
    holders: &[Uuid],
    query: &TaskListQuery,
) -> AppResult<HashMap<Uuid, Page<task::Model>>> {
    let search = search_sql(owner, &query.filter);
    let keys = sort_keys(&query.order, search.as_ref());
    let sig = signature(&keys);
    let (mut inner, holder) = holder_select(kind, holders);
    narrow(
        &mut inner,
        owner.owner(),
        &query.filter,
        DueRange::Indexed,
        search.as_ref(),
        ranks(&query.order),
    );
    let mut window = WindowStatement::new();
    window.add_partition_by(holder.clone());
    for (expr, order) in order_terms(&keys, query.page.backward) {
        window.order_by_expr(expr, order);
    }
    inner
        .expr_as(holder, Alias::new("scope_id"))
        .expr_window_as(Expr::cust("ROW_NUMBER()"), window, Alias::new("rn"))
        .cond_where(cursor_bounds(&keys, &query.page)?);
    let select = Query::select()
        .column(Asterisk)
        .from_subquery(inner, Alias::new("numbered"))
        .and_where(Expr::col(Alias::new("rn")).lte(query.page.limit as i64 + 1))
        .order_by(Alias::new("scope_id"), sea_orm::sea_query::Order::Asc)
        .order_by(Alias::new("rn"), sea_orm::sea_query::Order::Asc)
        .to_owned();

    let rows = owner
        .read(async |db| Ok(db.query_all(&select).await?))
        .await?;
    let mut grouped: HashMap<Uuid, Vec<Listed>> = HashMap::new();
    for row in rows {
        let holder: Uuid = row.try_get("", "scope_id")?;
        grouped
            .entry(holder)
            .or_default()
            .push(Listed::from_query_result(&row, "")?);
    }
    Ok(holders
        .iter()
        .map(|holder| {
            let rows = grouped.remove(holder).unwrap_or_default();
            let page = into_page(rows, &keys, &sig, &query.page);
            (*holder, page.map(|listed| listed.task))
        })
        .collect())
}

pub async fn count_scoped(
    owner: &Scoped<'_>,
    kind: Holder,
    holders: &[Uuid],
    filter: &TaskFilter,
) -> AppResult<HashMap<Uuid, u64>> {
    let (mut select, holder) = holder_select(kind, holders);
    let mut condition = filter_condition(owner.owner(), filter);
    if let Some(search) = search_sql(owner, filter) {
        condition = condition.add(search.condition());
    }
    select
        .clear_selects()
        .expr_as(holder.clone(), Alias::new("scope_id"))
        .expr_as(Func::count(Expr::col(Asterisk)), Alias::new("n"))
        .cond_where(condition)
        .add_group_by([holder]);
    let rows = owner
        .read(async |db| Ok(db.query_all(&select).await?))
        .await?;
    let mut counts: HashMap<Uuid, u64> = holders.iter().map(|h| (*h, 0)).collect();
    for row in rows {
        let holder: Uuid = row.try_get("", "scope_id")?;
        let n: i64 = row.try_get("", "n")?;
        counts.insert(holder, u64::try_from(n).unwrap_or(0));
    }
    Ok(counts)
}

pub async fn find_by_ids(
    scope: &Scoped<'_>,
    ids: &[Uuid],
) -> AppResult<HashMap<Uuid, task::Model>> {
    let found = scope
        .read(async |db| {
            Ok(task::Entity::find()
                .filter(task::Column::OwnerId.eq(scope.owner()))
                .filter(task::Column::Id.is_in(ids.iter().copied()))
                .all(db)
                .await?)
        })
        .await?;
    Ok(found.into_iter().map(|t| (t.id, t)).collect())
}

pub async fn find(scope: &Scoped<'_>, id: Uuid) -> AppResult<Option<task::Model>> {
    Ok(find_by_ids(scope, &[id]).await?.remove(&id))
}

/// Categories of each task, ordered by name.
pub async fn categories_of(
    scope: &Scoped<'_>,
    task_ids: &[Uuid],
) -> AppResult<HashMap<Uuid, Vec<category::Model>>> {
    let mut select = Query::select();
    select
        .columns(category::Column::iter().map(|c| (category::Entity, c)))
        .expr_as(
            Expr::col((task_category::Entity, task_category::Column::TaskId)),
            Alias::new("owner_task_id"),
        )
        .from(category::Entity)
        .inner_join(
            task_category::Entity,
            Expr::col((task_category::Entity, task_category::Column::CategoryId))
                .equals((category::Entity, category::Column::Id)),
        )
        .and_where(
            Expr::col((task_category::Entity, task_category::Column::TaskId))
                .is_in(task_ids.iter().copied()),
        )
        .and_where(Expr::col((category::Entity, category::Column::OwnerId)).eq(scope.owner()))
        .order_by(
            (category::Entity, category::Column::NameKey),
            sea_orm::sea_query::Order::Asc,
        )
        .order_by(
            (category::Entity, category::Column::Id),
            sea_orm::sea_query::Order::Asc,
        );
    let rows = scope
        .read(async |db| Ok(db.query_all(&select).await?))
        .await?;
    let mut out: HashMap<Uuid, Vec<category::Model>> =
        task_ids.iter().map(|id| (*id, Vec::new())).collect();
    for row in rows {
        let owner: Uuid = row.try_get("", "owner_task_id")?;
        out.entry(owner)
            .or_default()
            .push(category::Model::from_query_result(&row, "")?);
    }
    Ok(out)
}
