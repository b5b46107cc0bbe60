//! Which way a filtered list is read. An index serves one order; a filter on
//! something else (a category, a due-date window) leaves either many rows,
//! soon found by walking the order's index, or few, best read at once and
//! sorted. The engines do not always tell which: PostgreSQL's default costs
//! walk the index even for a rare category, and SQLite, which knows nothing
//! of a range's width, reads and sorts a wide window of due dates where
//! walking finds a page sooner (bench/RESULTS.md, "Scale", has the
//! figures). A count that stops at the threshold tells.

use entity::{category, task, task_category};
use sea_orm::ConnectionTrait;
use sea_orm::prelude::Uuid;
use sea_orm::sea_query::{Asterisk, Expr, ExprTrait, Query, SelectStatement};

use super::requests::{TaskFilter, TaskOrder, TaskOrderField};
use crate::error::AppResult;
use crate::service::page::count_read;
use crate::service::search::SearchSql;

/// Up to this many links, a category's tasks are read by primary key and
/// sorted (about where that costs what walking the order's index and
/// checking each task for a link costs, at a million tasks).
const FEW_LINKS: u64 = 4000;
/// Up to this many tasks in a due-date window, the window is read from the
/// due-date index and sorted; past it, the order's index is walked.
const FEW_DUE: u64 = 2000;
/// Up to this many full-text matches (SQLite), they are read by id and
/// sorted; past it, the order's index is walked and each task tested (the
/// crossover measured in bench/RESULTS.md, "Search").
const FEW_MATCHES: u64 = 2000;

/// How a due-date window is written: as comparisons an index range can
/// serve, or as a test of each row, so that no engine reads the window and
/// sorts it when walking the order's index is faster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DueRange {
    Indexed,
    Tested,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// As the engine plans it.
    Planned,
    /// The filter's few rows first, then the order (`matching_first`).
    MatchingFirst,
    /// The order's index, each row tested against a wide due-date window.
    WalkOrder,
}

impl Shape {
    pub(super) fn due_range(self) -> DueRange {
        match self {
            Self::WalkOrder => DueRange::Tested,
            _ => DueRange::Indexed,
        }
    }
}

pub(super) async fn choose(
    db: &impl ConnectionTrait,
    owner: &str,
    filter: &TaskFilter,
    order: &[TaskOrder],
) -> AppResult<Shape> {
    if let Some(categories) = &filter.category_ids
        && links(db, owner, categories).await? <= FEW_LINKS
    {
        return Ok(Shape::MatchingFirst);
    }
    let window = filter.due_before.is_some() || filter.due_after.is_some();
    // A DUE_AT list walks the window itself.
    if !window
        || order
            .first()
            .is_some_and(|o| o.field == TaskOrderField::DueAt)
    {
        return Ok(Shape::Planned);
    }
    Ok(if due_in_window(db, owner, filter).await? <= FEW_DUE {
        Shape::MatchingFirst
    } else {
        Shape::WalkOrder
    })
}

/// Whether a list's search has so many matches that walking the order's
/// index finds a page sooner than reading them all (SQLite; PostgreSQL
/// decides from its statistics of the GIN index).
pub(super) async fn search_walks(db: &impl ConnectionTrait, search: &SearchSql) -> AppResult<bool> {
    match search.matches_up_to(FEW_MATCHES) {
        Some(matches) => Ok(count_read(db, matches).await? > FEW_MATCHES),
        None => Ok(false),
    }
}

/// The links of the owner's `categories`, counted up to one past `FEW_LINKS`.
async fn links(db: &impl ConnectionTrait, owner: &str, categories: &[Uuid]) -> AppResult<u64> {
    let owned = Query::select()
        .column(category::Column::Id)
        .from(category::Entity)
        .and_where(Expr::col(category::Column::OwnerId).eq(owner))
        .and_where(Expr::col(category::Column::Id).is_in(categories.iter().copied()))
        .to_owned();
    let links = Query::select()
        .expr(Expr::val(1))
        .from(task_category::Entity)
        .and_where(Expr::col(task_category::Column::CategoryId).in_subquery(owned))
        .limit(FEW_LINKS + 1)
        .to_owned();
    count_read(db, links).await
}

/// The owner's tasks in the due-date window, counted up to one past
/// `FEW_DUE` (a range of the (owner_id, due_at, id) index).
async fn due_in_window(
    db: &impl ConnectionTrait,
    owner: &str,
    filter: &TaskFilter,
) -> AppResult<u64> {
    let mut due = Query::select();
    due.expr(Expr::val(1))
        .from(task::Entity)
        .and_where(Expr::col(task::Column::OwnerId).eq(owner))
        .limit(FEW_DUE + 1);
    if let Some(before) = filter.due_before {
        due.and_where(Expr::col(task::Column::DueAt).lt(before));
    }
    if let Some(after) = filter.due_after {
        due.and_where(Expr::col(task::Column::DueAt).gt(after));
    }
    count_read(db, due).await
}

/// `select` as a derived table under the tasks table's name (every column
/// reference still holds), computed whole before the page's order and
/// limit: a subquery with a LIMIT is not merged into the outer query.
pub(super) fn matching_first(mut select: SelectStatement) -> SelectStatement {
    select.limit(i64::MAX as u64);
    Query::select()
        .column(Asterisk)
        .from_subquery(select, task::Entity)
        .to_owned()
}
