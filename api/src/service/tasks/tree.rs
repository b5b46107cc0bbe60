//! Changes of the task tree: the turn they take on PostgreSQL, the check
//! that a move closes no loop, and a sub-tree's ids (recursive CTEs).

use entity::task;
use sea_orm::sea_query::{
    CommonTableExpression, Expr, ExprTrait, Query, SelectStatement, UnionType, WithClause,
};
use sea_orm::{ConnectionTrait, DbBackend, prelude::Uuid};

use crate::error::{AppError, AppResult};

/// Changes of the task tree (sub-tasks created, tasks moved, subtrees
/// deleted) take turns on PostgreSQL: a move cannot close a loop with
/// another, and a deletion finds every sub-task of its subtree, none
/// added meanwhile for the foreign key to cascade away unrecorded. (SQLite
/// has one writer at a time anyway.)
pub(super) async fn take_turns_with_structure_changes<C: ConnectionTrait>(db: &C) -> AppResult<()> {
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_unprepared("SELECT pg_advisory_xact_lock(7316001)")
            .await?;
    }
    Ok(())
}

/// Refuses to hang `task` under `new_parent` when that would make the task its
/// own ancestor.
pub(super) async fn ensure_not_descendant<C: ConnectionTrait>(
    db: &C,
    task: Uuid,
    new_parent: Uuid,
) -> AppResult<()> {
    if task == new_parent {
        return Err(AppError::bad_input(
            "parentId",
            "a task cannot be its own parent",
        ));
    }
    // Two concurrent moves could each pass the check below and together
    // close a loop.
    take_turns_with_structure_changes(db).await?;
    // The new parent and its ancestors, up to the root: `task` must not be one.
    let start = Query::select()
        .columns([task::Column::Id, task::Column::ParentId])
        .from(task::Entity)
        .and_where(Expr::col(task::Column::Id).eq(new_parent))
        .to_owned();
    let up = Query::select()
        .columns([
            (task::Entity, task::Column::Id),
            (task::Entity, task::Column::ParentId),
        ])
        .from(task::Entity)
        .inner_join(
            ANCESTORS,
            Expr::col((task::Entity, task::Column::Id)).equals((ANCESTORS, task::Column::ParentId)),
        )
        .to_owned();
    let ancestors = recursive(
        ANCESTORS,
        [task::Column::Id, task::Column::ParentId],
        start,
        up,
    );
    let found = Query::select()
        .column(task::Column::Id)
        .from(ANCESTORS)
        .and_where(Expr::col(task::Column::Id).eq(task))
        .to_owned()
        .with(ancestors);
    if db.query_one(&found).await?.is_some() {
        return Err(AppError::bad_input(
            "parentId",
            "a task cannot be moved under one of its own sub-tasks",
        ));
    }
    Ok(())
}

/// The recursive common table expressions of the tree walks.
const ANCESTORS: &str = "ancestors";

const SUBTREE: &str = "subtree";

/// `WITH RECURSIVE name (columns) AS (start UNION step)`: `step` joins
/// `name` to find the next rows; UNION (not ALL) stops at rows seen.
fn recursive<const N: usize>(
    name: &'static str,
    columns: [task::Column; N],
    mut start: SelectStatement,
    step: SelectStatement,
) -> WithClause {
    let mut cte = CommonTableExpression::new();
    cte.query(start.union(UnionType::Distinct, step).to_owned())
        .table_name(name);
    for column in columns {
        cte.column(column);
    }
    WithClause::new().recursive(true).cte(cte).to_owned()
}

/// The given tasks and all their descendants.
pub(super) async fn with_descendants<C: ConnectionTrait>(
    db: &C,
    owner: &str,
    roots: &[Uuid],
) -> AppResult<Vec<Uuid>> {
    if roots.is_empty() {
        return Ok(Vec::new());
    }
    let start = Query::select()
        .column(task::Column::Id)
        .from(task::Entity)
        .and_where(Expr::col(task::Column::OwnerId).eq(owner))
        .and_where(Expr::col(task::Column::Id).is_in(roots.iter().copied()))
        .to_owned();
    let down = Query::select()
        .column((task::Entity, task::Column::Id))
        .from(task::Entity)
        .inner_join(
            SUBTREE,
            Expr::col((task::Entity, task::Column::ParentId)).equals((SUBTREE, task::Column::Id)),
        )
        .and_where(Expr::col((task::Entity, task::Column::OwnerId)).eq(owner))
        .to_owned();
    let subtree = recursive(SUBTREE, [task::Column::Id], start, down);
    let all = Query::select()
        .column(task::Column::Id)
        .from(SUBTREE)
        .to_owned()
        .with(subtree);
    let rows = db.query_all(&all).await?;
    rows.iter()
        .map(|r| r.try_get::<Uuid>("", "id").map_err(AppError::from))
        .collect()
}
