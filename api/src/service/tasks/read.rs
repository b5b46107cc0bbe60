//! Reading tasks: lists with their filters and keyset pages, counts, nested
//! lists of many holders (parents, categories) in one statement, and
//! lookups by id; all of one owner's tasks only.

use std::collections::HashMap;

use entity::{category, task, task_category};
use sea_orm::sea_query::{
    Alias, Asterisk, Condition, Expr, ExprTrait, Func, LikeExpr, OverStatement, Query,
    SelectStatement, WindowStatement,
};
use sea_orm::{
    ActiveEnum, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, Iterable, QueryFilter,
    prelude::Uuid,
};

use super::requests::{Scope, TaskFilter, TaskOrder, TaskOrderField};
use super::shape::{self, Shape};
use crate::error::AppResult;
use crate::service::page::{
    Direction, KeyKind, KeyValue, ListOrder, ListQuery, Page, SortKey, count_rows, cursor_bounds,
    encode_cursor, fetch_page, into_page, normalise, order_terms, signature,
};
use crate::service::{Scoped, sql};

/// A validated task list request.
pub type TaskListQuery = ListQuery<TaskFilter, TaskOrder>;

impl ListOrder for TaskOrder {
    type Field = TaskOrderField;
    type Model = task::Model;
    const DEFAULT: Self = TaskOrder {
        field: TaskOrderField::CreatedAt,
        direction: Direction::Asc,
    };

    fn field(&self) -> TaskOrderField {
        self.field
    }

    fn sort_keys(order: &[Self]) -> Vec<SortKey<task::Model>> {
        sort_keys(order)
    }
}

/// The cursor a list in `order` gives `task`: where a page after (or before)
/// that row starts, for tools that begin deep in a list (the scale benchmark).
pub fn cursor_of(order: Vec<TaskOrder>, task: &task::Model) -> String {
    let keys = sort_keys(&normalise(order));
    encode_cursor(
        &signature(&keys),
        keys.iter().map(|k| (k.value_of)(task)).collect(),
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

/// The ORDER BY of a task list: the requested fields, then `id` to break ties.
/// Tasks without a due date sort after those with one, in both directions.
pub(super) fn sort_keys(order: &[TaskOrder]) -> Vec<SortKey<task::Model>> {
    let mut keys = Vec::with_capacity(order.len() + 2);
    for o in order {
        let d = o.direction;
        match o.field {
            TaskOrderField::CreatedAt => keys.push(SortKey {
                expr: col(task::Column::CreatedAt),
                direction: d,
                kind: KeyKind::Time,
                value_of: |t: &task::Model| KeyValue::time(&t.created_at),
                groups: Vec::new(),
            }),
            TaskOrderField::UpdatedAt => keys.push(SortKey {
                expr: col(task::Column::UpdatedAt),
                direction: d,
                kind: KeyKind::Time,
                value_of: |t: &task::Model| KeyValue::time(&t.updated_at),
                groups: Vec::new(),
            }),
            TaskOrderField::DueAt => {
                keys.push(SortKey {
                    expr: Expr::case(col(task::Column::DueAt).is_null(), 1)
                        .finally(0)
                        .into(),
                    direction: Direction::Asc,
                    kind: KeyKind::Int,
                    value_of: |t: &task::Model| KeyValue::Int(i64::from(t.due_at.is_none())),
                    groups: vec![(0, dated()), (1, undated())],
                });
                keys.push(SortKey {
                    expr: col(task::Column::DueAt),
                    direction: d,
                    kind: KeyKind::Time,
                    value_of: |t: &task::Model| KeyValue::opt_time(&t.due_at),
                    groups: Vec::new(),
                });
            }
            TaskOrderField::Priority => keys.push(SortKey {
                expr: col(task::Column::Priority),
                direction: d,
                kind: KeyKind::Int,
                value_of: |t: &task::Model| KeyValue::Int(priority_value(t.priority)),
                groups: Vec::new(),
            }),
            TaskOrderField::Description => keys.push(SortKey {
                expr: col(task::Column::Description),
                direction: d,
                kind: KeyKind::Text,
                value_of: |t: &task::Model| KeyValue::Text(t.description.clone()),
                groups: Vec::new(),
            }),
        }
    }
    let tie = order.last().map_or(Direction::Asc, |o| o.direction);
    keys.push(SortKey {
        expr: col(task::Column::Id),
        direction: tie,
        kind: KeyKind::Uuid,
        value_of: |t: &task::Model| KeyValue::uuid(&t.id),
        groups: Vec::new(),
    });
    keys
}

/// A list led by PRIORITY and filtered by priorities reads each admitted
/// priority as its own range of (owner_id, priority, id): SQLite cannot
/// start a range at a row value whose first column the filter already pins.
fn split_by_priority(keys: &mut [SortKey<task::Model>], order: &[TaskOrder], filter: &TaskFilter) {
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

/// How a due-date window is written: as comparisons an index range can
/// serve, or as a test of each row, so that no engine reads the window and
/// sorts it when walking the order's index is faster (see `shape`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DueRange {
    Indexed,
    Tested,
}

fn filter_condition_as(owner: &str, filter: &TaskFilter, due: DueRange) -> Condition {
    // `(due_at < $1) = TRUE` is no index range on SQLite; PostgreSQL folds
    // it back and chooses with its statistics, as it does well.
    let due_test = |c: Expr| match due {
        DueRange::Indexed => c,
        DueRange::Tested => c.eq(Expr::cust("TRUE")),
    };
    let mut cond = Condition::all().add(col(task::Column::OwnerId).eq(owner));
    if let Some(search) = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let pattern = sql::contains_pattern(search);
        cond = cond.add(
            Expr::expr(Func::lower(col(task::Column::Description)))
                .like(LikeExpr::new(pattern).escape('\\')),
        );
    }
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
    let mut keys = sort_keys(&query.order);
    split_by_priority(&mut keys, &query.order, &query.filter);
    if query.filter.due_before.is_some() || query.filter.due_after.is_some() {
        // No task without a due date is in a window: reading that group
        // would only scan it (SQLite does not see the contradiction).
        for key in &mut keys {
            key.groups.retain(|(_, c)| *c != undated());
        }
    }
    scope
        .read(async |db| {
            let owner = scope.owner();
            let shape = shape::choose(db, owner, &query.filter, &query.order).await?;
            let mut select = select_tasks();
            select.cond_where(filter_condition_as(owner, &query.filter, shape.due_range()));
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
        .await
}

pub async fn count(scope: &Scoped<'_>, filter: &TaskFilter) -> AppResult<u64> {
    let condition = filter_condition(scope.owner(), filter);
    scope
        .read(async |db| count_rows(db, task::Entity, condition).await)
        .await
}

/// Tasks below `holders` (parents, or categories through their links).
fn holder_select(scope: Scope, holders: &[Uuid]) -> (SelectStatement, Expr) {
    let mut select = select_tasks();
    let holder = match scope {
        Scope::Parent => col(task::Column::ParentId),
        Scope::Category => {
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
    scope: Scope,
    holders: &[Uuid],
    query: &TaskListQuery,
) -> AppResult<HashMap<Uuid, Page<task::Model>>> {
    let keys = sort_keys(&query.order);
    let sig = signature(&keys);
    let (mut inner, holder) = holder_select(scope, holders);
    let mut window = WindowStatement::new();
    window.add_partition_by(holder.clone());
    for (expr, order) in order_terms(&keys, query.page.backward) {
        window.order_by_expr(expr, order);
    }
    inner
        .expr_as(holder, Alias::new("scope_id"))
        .expr_window_as(Expr::cust("ROW_NUMBER()"), window, Alias::new("rn"))
        .cond_where(filter_condition(owner.owner(), &query.filter))
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
    let mut grouped: HashMap<Uuid, Vec<task::Model>> = HashMap::new();
    for row in rows {
        let holder: Uuid = row.try_get("", "scope_id")?;
        grouped
            .entry(holder)
            .or_default()
            .push(task::Model::from_query_result(&row, "")?);
    }
    Ok(holders
        .iter()
        .map(|holder| {
            let rows = grouped.remove(holder).unwrap_or_default();
            (*holder, into_page(rows, &keys, &sig, &query.page))
        })
        .collect())
}

pub async fn count_scoped(
    owner: &Scoped<'_>,
    scope: Scope,
    holders: &[Uuid],
    filter: &TaskFilter,
) -> AppResult<HashMap<Uuid, u64>> {
    let (mut select, holder) = holder_select(scope, holders);
    select
        .clear_selects()
        .expr_as(holder.clone(), Alias::new("scope_id"))
        .expr_as(Func::count(Expr::col(Asterisk)), Alias::new("n"))
        .cond_where(filter_condition(owner.owner(), filter))
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
