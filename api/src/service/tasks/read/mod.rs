//! Reading tasks: lists with their filters and keyset pages, counts, and
//! nested lists of many holders (parents, categories) in one statement;
//! all of one owner's tasks only. A list's order and cursors are
//! `order.rs`'s; lookups by id are `by_id.rs`'s.

mod by_id;
mod order;

use std::collections::HashMap;

use entity::{task, task_category};
use sea_orm::sea_query::{
    Alias, Asterisk, Condition, Expr, ExprTrait, Func, OverStatement, Query, SelectStatement,
    WindowStatement,
};
use sea_orm::{ConnectionTrait, FromQueryResult, Iterable, prelude::Uuid};

use super::requests::{Holder, TaskFilter, TaskOrder};
use super::shape::{self, DueRange, Shape};
use crate::error::AppResult;
use crate::service::Scoped;
use crate::service::page::{
    Count, ListQuery, Page, count_rows, count_up_to, cursor_bounds, fetch_page, into_page,
    order_terms, signature,
};
use crate::service::search::SearchSql;

pub(crate) use by_id::{categories_of, find, find_by_ids};
pub use order::cursor_of;
use order::{Listed, RANK, col, priority_value, ranks, sort_keys, split_by_priority, undated};

/// A validated task list request.
pub type TaskListQuery = ListQuery<TaskFilter, TaskOrder>;

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

/// How many tasks a search counts before it stops: a common word's matches
/// are thousands, all read to count them, where its first page reads 20.
pub const SEARCH_COUNT_LIMIT: u64 = 1000;

/// How many of the owner's tasks match `filter`: exactly, except that a
/// search stops counting past [`SEARCH_COUNT_LIMIT`].
pub async fn count(scope: &Scoped<'_>, filter: &TaskFilter) -> AppResult<Count> {
    let condition = filter_condition(scope.owner(), filter);
    let search = search_sql(scope, filter).filter(|search| !search.is_everything());
    scope
        .read(async |db| match search {
            Some(search) => {
                let mut select = Query::select();
                select.from(task::Entity).cond_where(condition);
                search.apply_streamed(&mut select);
                count_up_to(db, select, SEARCH_COUNT_LIMIT).await
            }
            None => Ok(Count::exact(count_rows(db, task::Entity, condition).await?)),
        })
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
