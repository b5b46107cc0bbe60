//! The fields of `Task` and `Category`, and the `Node` interface they share.

use async_graphql::{Context, ID, Interface, Object, Result};

use super::connection::{self, TaskConnection};
use super::federation::User;
use super::ids::{self, NodeKind};
use super::inputs::{TaskFilter, TaskListArgs, TaskOrder};
use super::loaders::Loaders;
use super::objects::{Category, Priority, Task};
use super::scalars::DateTime;
use crate::service::tasks::{DEFAULT_TIME_ZONE, Holder};

#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "A globally unique, opaque id."))]
pub(crate) enum Node {
    Task(Task),
    Category(Category),
}

#[Object]
impl Task {
    async fn id(&self) -> ID {
        ids::encode(NodeKind::Task, self.0.id)
    }

    async fn description(&self) -> &str {
        &self.0.description
    }

    async fn priority(&self) -> Priority {
        self.0.priority.into()
    }

    async fn start_at(&self) -> Option<DateTime> {
        self.0.start_at.map(DateTime)
    }

    async fn due_at(&self) -> Option<DateTime> {
        self.0.due_at.map(DateTime)
    }

    async fn done(&self) -> bool {
        self.0.done
    }

    /// When the task was last marked done; null while it is not done.
    async fn completed_at(&self) -> Option<DateTime> {
        self.0.completed_at.map(DateTime)
    }

    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    async fn updated_at(&self) -> DateTime {
        DateTime(self.0.updated_at)
    }

    /// An RFC 5545 RRULE: completing the task creates its next occurrence.
    async fn recurrence(&self) -> Option<&str> {
        self.0.recurrence.as_deref()
    }

    /// When the owner wants to be reminded of the task (a `REMINDER_DUE`
    /// event then).
    async fn remind_at(&self) -> Option<DateTime> {
        self.0.remind_at.map(DateTime)
    }

    /// The IANA zone the recurrence is reckoned in.
    async fn time_zone(&self) -> &str {
        self.0.time_zone.as_deref().unwrap_or(DEFAULT_TIME_ZONE)
    }

    /// Where the task stands among its siblings in the owner's order
    /// (`POSITION`): an opaque key, to be compared as a byte string
    /// (code points, not a locale's collation) with ties broken by `id`. A
    /// client that keeps a list can reorder it after a `moveTask` without
    /// reading the list again.
    async fn position(&self) -> &str {
        &self.0.position
    }

    /// Starts at 1 and grows by one with every change; pass it back as
    /// `expectedVersion` to update only if nobody else changed the task.
    async fn version(&self) -> i32 {
        self.0.version
    }

    /// Whose task this is (in a federated graph, the users service adds
    /// the rest of `User`).
    async fn owner(&self) -> User {
        User::new(self.0.owner_id.as_str())
    }

    async fn parent(&self, ctx: &Context<'_>) -> Result<Option<Task>> {
        let Some(parent) = self.0.parent_id else {
            return Ok(None);
        };
        let loaders = ctx.data::<Loaders>()?;
        Ok(loaders.task_by_id.load_one(parent).await?.map(Task))
    }

    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "super::connection::page_cost(first, last, child_complexity)")]
    async fn subtasks(
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
        connection::scoped_tasks(ctx, Holder::Parent, self.0.id, args).await
    }

    /// Ordered by name.
    async fn categories(&self, ctx: &Context<'_>) -> Result<Vec<Category>> {
        let loaders = ctx.data::<Loaders>()?;
        let categories = loaders.categories_of_task.load_one(self.0.id).await?;
        Ok(categories
            .unwrap_or_default()
            .into_iter()
            .map(Category)
            .collect())
    }
}

#[Object]
impl Category {
    async fn id(&self) -> ID {
        ids::encode(NodeKind::Category, self.0.id)
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    /// Whose category this is.
    async fn owner(&self) -> User {
        User::new(self.0.owner_id.as_str())
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
        connection::scoped_tasks(ctx, Holder::Category, self.0.id, args).await
    }
}
