//! A task list's order: its ORDER BY as sort keys (due dates last in both
//! directions, `id` to break ties), the cursor of a row, and a search's
//! rank as a sort key.

use entity::task;
use sea_orm::sea_query::{Condition, Expr, ExprTrait};
use sea_orm::{ActiveEnum, DbErr, FromQueryResult, QueryResult};

use crate::error::{AppError, AppResult};
use crate::service::page::{
    Direction, KeyKind, KeyValue, ListOrder, SortKey, encode_cursor, normalise, signature,
};
use crate::service::search::SearchSql;
use crate::service::tasks::requests::{TaskFilter, TaskOrder, TaskOrderField};

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

pub(super) fn col(c: task::Column) -> Expr {
    Expr::col((task::Entity, c))
}

pub(super) fn dated() -> Condition {
    Condition::all().add(col(task::Column::DueAt).is_not_null())
}

pub(super) fn undated() -> Condition {
    Condition::all().add(col(task::Column::DueAt).is_null())
}

pub(super) fn ranks(order: &[TaskOrder]) -> bool {
    order.iter().any(|o| o.field == TaskOrderField::Relevance)
}

/// The column every task list selects its search rank as.
pub(super) const RANK: &str = "search_rank";

/// A task as a list reads it: the row and its search rank (0 unless the
/// list is ordered by relevance), which a relevance cursor keeps.
#[derive(Debug, Clone)]
pub struct Listed {
    pub(super) task: task::Model,
    pub(super) rank: f64,
}

impl FromQueryResult for Listed {
    fn from_query_result(row: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        Ok(Self {
            task: task::Model::from_query_result(row, pre)?,
            rank: row.try_get(pre, RANK)?,
        })
    }
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
pub(super) fn split_by_priority(
    keys: &mut [SortKey<Listed>],
    order: &[TaskOrder],
    filter: &TaskFilter,
) {
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

pub(super) fn priority_value(p: entity::Priority) -> i64 {
    i64::from(p.to_value())
}
