use async_graphql::{Context, ID, MergedObject, Object, Result};

use super::connection;
use super::context::state;
use super::ids::{self, NodeKind};
use super::inputs::{
    CategoryFilter, CategoryListArgs, CategoryOrder, TaskFilter, TaskListArgs, TaskOrder,
};
use super::loaders::Loaders;
use super::objects::{Category, CategoryConnection, Task, TaskConnection};
use super::types::Node;
use crate::error::AppError;
use crate::service::categories as category_service;

/// How many ids `nodes` takes at once.
const MAX_NODES: usize = 100;

#[derive(MergedObject, Default)]
pub struct Query(NodeQuery, TaskQuery, CategoryQuery);

#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// Fetches any object by its global id; null if it does not exist.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Node>> {
        let (kind, uuid) = ids::decode_any(&id, "id")?;
        Ok(match kind {
            NodeKind::Task => ctx
                .data::<Loaders>()?
                .task_by_id
                .load_one(uuid)
                .await?
                .map(|t| Node::Task(Task(t))),
            NodeKind::Category => category_service::find(state(ctx)?.db(), uuid)
                .await?
                .map(|c| Node::Category(Category(c))),
        })
    }

    /// Fetches several objects by global id, in the same order; null where
    /// one does not exist.
    #[graphql(complexity = "ids.len().max(1).saturating_mul(child_complexity)")]
    async fn nodes(&self, ctx: &Context<'_>, ids: Vec<ID>) -> Result<Vec<Option<Node>>> {
        if ids.len() > MAX_NODES {
            return Err(AppError::BadInput {
                field: "ids".into(),
                message: format!("at most {MAX_NODES} ids at once"),
            }
            .into());
        }
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.node(ctx, id).await?);
        }
        Ok(out)
    }
}

#[derive(Default)]
pub struct TaskQuery;

#[Object]
impl TaskQuery {
    async fn task(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Task>> {
        let uuid = ids::decode(&id, NodeKind::Task, "id")?;
        let task = ctx.data::<Loaders>()?.task_by_id.load_one(uuid).await?;
        Ok(task.map(Task))
    }

    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "super::engine::page_cost(first, last, child_complexity)")]
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
pub struct CategoryQuery;

#[Object]
impl CategoryQuery {
    async fn category(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Category>> {
        let uuid = ids::decode(&id, NodeKind::Category, "id")?;
        Ok(category_service::find(state(ctx)?.db(), uuid)
            .await?
            .map(Category))
    }

    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "super::engine::page_cost(first, last, child_complexity)")]
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
