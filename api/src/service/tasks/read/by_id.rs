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
    let select = linked_categories(scope.backend(), scope.owner(), task_ids);
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

/// The tasks' links, each with its category, ordered by name. SQLite joins
/// the categories and looks each one up by primary key. PostgreSQL looks
/// each one up in a lateral subquery that `OFFSET 0` keeps from being
/// flattened: as a plain join, its default costs hash every one of the
/// owner's categories for the few a page links to (bench/RESULTS.md, "The
/// nested list's categories").
fn linked_categories(backend: DbBackend, owner: &str, task_ids: &[Uuid]) -> SelectStatement {
    let link = |column| Expr::col((task_category::Entity, column));
    let mut select = Query::select();
    select
        .expr_as(link(task_category::Column::TaskId), Alias::new(LINKED_TASK))
        .from(task_category::Entity)
        .and_where(link(task_category::Column::TaskId).is_in(task_ids.iter().copied()));
    let categories: DynIden = match backend {
        DbBackend::Postgres => {
            let linked = Alias::new("linked").into_iden();
            let lookup = Query::select()
                .columns(category::Column::iter().map(|c| (category::Entity, c)))
                .from(category::Entity)
                .and_where(
                    Expr::col((category::Entity, category::Column::Id))
                        .equals((task_category::Entity, task_category::Column::CategoryId)),
                )
                .and_where(Expr::col((category::Entity, category::Column::OwnerId)).eq(owner))
                .offset(0)
                .to_owned();
            select.join_lateral(
                JoinType::InnerJoin,
                lookup,
                linked.clone(),
                Expr::cust("TRUE"),
            );
            linked
        }
        _ => {
            select
                .inner_join(
                    category::Entity,
                    link(task_category::Column::CategoryId)
                        .equals((category::Entity, category::Column::Id)),
                )
                .and_where(Expr::col((category::Entity, category::Column::OwnerId)).eq(owner));
            category::Entity.into_iden()
        }
    };
    select
        .columns(category::Column::iter().map(|c| (categories.clone(), c)))
        .order_by(
            (categories.clone(), category::Column::NameKey),
            sea_orm::sea_query::Order::Asc,
        )
        .order_by(
            (categories, category::Column::Id),
            sea_orm::sea_query::Order::Asc,
        );
    select
}
