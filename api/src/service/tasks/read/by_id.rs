//! Tasks by id, and the categories of tasks by id: of one owner only.

use std::collections::HashMap;

use entity::{category, task, task_category};
use sea_orm::sea_query::{
    Alias, DynIden, Expr, ExprTrait, IntoIden, JoinType, Query, SelectStatement,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, Iterable, QueryFilter,
    prelude::Uuid,
};

use crate::error::AppResult;
use crate::service::Scoped;

/// The column naming which task a category row is linked to.
const LINKED_TASK: &str = "owner_task_id";

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
    let select = match scope.backend() {
        DbBackend::Postgres => linked_categories_by_key(scope.owner(), task_ids),
        _ => linked_categories_joined(scope.owner(), task_ids),
    };
    let rows = scope
        .read(async |db| Ok(db.query_all(&select).await?))
        .await?;
    let mut out: HashMap<Uuid, Vec<category::Model>> =
        task_ids.iter().map(|id| (*id, Vec::new())).collect();
    for row in rows {
        let owner: Uuid = row.try_get("", LINKED_TASK)?;
        out.entry(owner)
            .or_default()
            .push(category::Model::from_query_result(&row, "")?);
    }
    Ok(out)
}

fn links_of(task_ids: &[Uuid]) -> Expr {
    Expr::col((task_category::Entity, task_category::Column::TaskId))
        .is_in(task_ids.iter().copied())
}

/// The links of the tasks, each joined to its category: SQLite looks each
/// one up by primary key.
fn linked_categories_joined(owner: &str, task_ids: &[Uuid]) -> SelectStatement {
    let mut select = Query::select();
    select
        .columns(category::Column::iter().map(|c| (category::Entity, c)))
        .expr_as(
            Expr::col((task_category::Entity, task_category::Column::TaskId)),
            Alias::new(LINKED_TASK),
        )
        .from(task_category::Entity)
        .inner_join(
            category::Entity,
            Expr::col((task_category::Entity, task_category::Column::CategoryId))
                .equals((category::Entity, category::Column::Id)),
        )
        .and_where(links_of(task_ids))
        .and_where(Expr::col((category::Entity, category::Column::OwnerId)).eq(owner));
    by_name(&mut select, category::Entity.into_iden());
    select
}

/// The same on PostgreSQL, each category looked up by primary key in a
/// lateral subquery that `OFFSET 0` keeps the planner from flattening. As a
/// plain join, its default costs hash every one of the owner's categories
/// for the few a page links to (bench/RESULTS.md, "The nested list's
/// categories").
fn linked_categories_by_key(owner: &str, task_ids: &[Uuid]) -> SelectStatement {
    let linked = Alias::new("linked");
    let category = Query::select()
        .columns(category::Column::iter().map(|c| (category::Entity, c)))
        .from(category::Entity)
        .and_where(
            Expr::col((category::Entity, category::Column::Id))
                .equals((task_category::Entity, task_category::Column::CategoryId)),
        )
        .and_where(Expr::col((category::Entity, category::Column::OwnerId)).eq(owner))
        .offset(0)
        .to_owned();
    let mut select = Query::select();
    select
        .columns(category::Column::iter().map(|c| (linked.clone(), c)))
        .expr_as(
            Expr::col((task_category::Entity, task_category::Column::TaskId)),
            Alias::new(LINKED_TASK),
        )
        .from(task_category::Entity)
        .join_lateral(
            JoinType::InnerJoin,
            category,
            linked.clone(),
            Expr::cust("TRUE"),
        )
        .and_where(links_of(task_ids));
    by_name(&mut select, linked.into_iden());
    select
}

fn by_name(select: &mut SelectStatement, table: DynIden) {
    select
        .order_by(
            (table.clone(), category::Column::NameKey),
            sea_orm::sea_query::Order::Asc,
        )
        .order_by(
            (table, category::Column::Id),
            sea_orm::sea_query::Order::Asc,
        );
}
