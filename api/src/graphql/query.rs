use async_graphql::{Context, ID, MergedObject, Object, Result, SimpleObject};

use super::connection::{self, CategoryConnection, TaskConnection};
use super::context::owner;
use super::federation::EntityQuery;
use super::ids::{self, NodeKind};
use super::inputs::{
    CategoryFilter, CategoryListArgs, CategoryOrder, TaskFilter, TaskListArgs, TaskOrder,
};
use super::loaders::Loaders;
use super::objects::{Category, Task};
use super::task_events::TaskEventQuery;
use super::types::Node;
use crate::error::AppError;

/// How many ids `nodes` takes at once.
const MAX_NODES: usize = 100;

// The root every request runs against: the client's fields and, for a
// federation gateway, the entity resolvers behind `_entities`.
#[derive(MergedObject, Default)]
pub struct Query(
    NodeQuery,
    ViewerQuery,
    TaskQuery,
    CategoryQuery,
    TaskEventQuery,
    EntityQuery,
);

// The root as clients see it: `schema.graphql` is this schema's SDL, without
// the federation fields (`_entities`, `_service`) code generators need not see.
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub(crate) struct ClientQuery(
    NodeQuery,
    ViewerQuery,
    TaskQuery,
    CategoryQuery,
    TaskEventQuery,
);

#[derive(Default)]
pub(crate) struct NodeQuery;

#[Object]
impl NodeQuery {
    /// Fetches any object by its global id; null if it does not exist.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Node>> {
        let loaders = ctx.data::<Loaders>()?;
        Ok(match ids::decode_any(&id, "id")? {
            (NodeKind::Task, uuid) => loaders
                .task_by_id
                .load_one(uuid)
                .await?
                .map(|t| Node::Task(Task(t))),
            (NodeKind::Category, uuid) => loaders
                .category_by_id
                .load_one(uuid)
                .await?
                .map(|c| Node::Category(Category(c))),
        })
    }

    /// Fetches several objects by global id, in the same order; null where
    /// one does not exist. One statement per type, whatever their number.
    #[graphql(complexity = "ids.len().max(1).saturating_mul(child_complexity)")]
    async fn nodes(&self, ctx: &Context<'_>, ids: Vec<ID>) -> Result<Vec<Option<Node>>> {
        if ids.len() > MAX_NODES {
            return Err(AppError::BadInput {
                field: "ids".into(),
                message: format!("at most {MAX_NODES} ids at once"),
            }
            .into());
        }
        let decoded = ids
            .iter()
            .map(|id| ids::decode_any(id, "id"))
            .collect::<Result<Vec<_>, _>>()?;
        let of_kind = |kind| {
            decoded
                .iter()
                .filter(move |(k, _)| *k == kind)
                .map(|(_, uuid)| *uuid)
        };
        let loaders = ctx.data::<Loaders>()?;
        // Side by side: both batches start together.
        let (tasks, categories) = futures_util::try_join!(
            loaders.task_by_id.load_many(of_kind(NodeKind::Task)),
            loaders
                .category_by_id
                .load_many(of_kind(NodeKind::Category)),
        )?;
        Ok(decoded
            .into_iter()
            .map(|(kind, uuid)| match kind {
                // A repeated id gets its node every time.
                NodeKind::Task => tasks.get(&uuid).cloned().map(|t| Node::Task(Task(t))),
                NodeKind::Category => categories
                    .get(&uuid)
                    .cloned()
                    .map(|c| Node::Category(Category(c))),
            })
            .collect())
    }
}

/// Who is asking.
#[derive(SimpleObject)]
pub(crate) struct Viewer {
    /// The owner: the subject (`sub`) of the caller's token, or the single
    /// user's fixed id.
    pub(crate) id: ID,
}

#[derive(Default)]
pub(crate) struct ViewerQuery;

#[Object]
impl ViewerQuery {
    /// The caller.
    async fn viewer(&self, ctx: &Context<'_>) -> Result<Viewer> {
        Ok(Viewer {
            id: ID(owner(ctx)?.as_str().to_owned()),
        })
    }
}

#[derive(Default)]
pub(crate) struct TaskQuery;

#[Object]
impl TaskQuery {
    async fn task(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Task>> {
        let uuid = ids::decode(&id, NodeKind::Task, "id")?;
        let task = ctx.data::<Loaders>()?.task_by_id.load_one(uuid).await?;
        Ok(task.map(Task))
    }

    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "super::connection::page_cost(first, last, child_complexity)")]
    async fn tasks(
        &self,
        ctx: &Context<'_>,
        filter: Option<TaskFilter>,
        order_by: Option<Vec<TaskOrder>>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<TaskConnection> {
        let args = TaskListArgs::new(filter, order_by, first, after, last, before);
        connection::tasks(ctx, args).await
    }
}

#[derive(Default)]
pub(crate) struct CategoryQuery;

#[Object]
impl CategoryQuery {
    async fn category(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Category>> {
        let uuid = ids::decode(&id, NodeKind::Category, "id")?;
        let loaders = ctx.data::<Loaders>()?;
        Ok(loaders.category_by_id.load_one(uuid).await?.map(Category))
    }

    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "super::connection::page_cost(first, last, child_complexity)")]
    async fn categories(
        &self,
        ctx: &Context<'_>,
        filter: Option<CategoryFilter>,
        order_by: Option<Vec<CategoryOrder>>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<CategoryConnection> {
        let args = CategoryListArgs::new(filter, order_by, first, after, last, before);
        connection::categories(ctx, args).await
    }
}
