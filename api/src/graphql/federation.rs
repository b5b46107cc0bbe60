//! Apollo Federation v2: `Task`, `Category` and `User` as entities other
//! subgraphs can reference and extend. A gateway resolves a representation
//! through `_entities`, which async-graphql routes to the resolvers below;
//! they read through the request's loaders, so a batch of representations
//! is one statement per type and another owner's id is null, exactly like a
//! missing one.

use async_graphql::{Context, ID, Object, Result};

use super::connection::{self, CategoryConnection, TaskConnection};
use super::context::owner;
use super::ids::{self, NodeKind};
use super::inputs::{
    CategoryFilter, CategoryListArgs, CategoryOrder, TaskFilter, TaskListArgs, TaskOrder,
};
use super::loaders::Loaders;
use super::objects::{Category, Task};

/// A person whose tasks these are: the subject of their token (or the single
/// user's fixed id). Another subgraph (a users service) owns the rest of it.
pub(crate) struct User {
    id: String,
}

impl User {
    pub(crate) fn new(id: impl Into<String>) -> Self {
        Self { id: id.into() }
    }
}

#[Object]
impl User {
    /// The token's subject.
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }

    /// The user's tasks: the same list as `Query.tasks`.
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

    /// The user's categories: the same list as `Query.categories`.
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

/// The entity resolvers; async-graphql keeps them out of `Query`'s fields
/// and reaches them only through `_entities`.
#[derive(Default)]
pub(crate) struct EntityQuery;

#[Object]
impl EntityQuery {
    #[graphql(entity)]
    async fn find_task_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Task>> {
        let uuid = ids::decode(&id, NodeKind::Task, "id")?;
        let task = ctx.data::<Loaders>()?.task_by_id.load_one(uuid).await?;
        Ok(task.map(Task))
    }

    #[graphql(entity)]
    async fn find_category_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Category>> {
        let uuid = ids::decode(&id, NodeKind::Category, "id")?;
        let loaders = ctx.data::<Loaders>()?;
        Ok(loaders.category_by_id.load_one(uuid).await?.map(Category))
    }

    /// Only the caller resolves: another user's representation is null, as
    /// a task of theirs would be, so nobody can list someone else's tasks.
    #[graphql(entity)]
    async fn find_user_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<User>> {
        let caller = owner(ctx)?;
        Ok((id.as_str() == caller.as_str()).then(|| User::new(caller.as_str())))
    }
}
