//! Tasks by id, and the categories of tasks by id: of one owner only.

use std::collections::HashMap;

use entity::{category, task, task_category};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, Iterable, QueryFilter,
    prelude::Uuid,
};

use crate::error::AppResult;
use crate::service::Scoped;

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
