//! GraphQL object, input and enum types, wrapping the entities.

use std::sync::Arc;

use async_graphql::{
    Context, Enum, ID, InputObject, Interface, MaybeUndefined, Object, Result, SimpleObject,
};
use chrono::{DateTime, Utc};
use entity::{category, task};

use super::ids::{self, NodeKind};
use super::limits;
use super::loaders::{Loaders, ScopedCountKey, ScopedPageKey};
use super::prefetch;
use super::state;
use crate::error::{AppError, AppResult};
use crate::service::categories::{
    self as category_service, CategoryFilter as CategoryFilterModel,
    CategoryOrder as CategoryOrderModel, CategoryOrderField as CategoryOrderFieldModel,
};
use crate::service::page::{Direction, Page, PageArgs};
use crate::service::tasks::{
    self as task_service, Scope, TaskFilter as TaskFilterModel, TaskListQuery,
    TaskOrder as TaskOrderModel, TaskOrderField as TaskOrderFieldModel,
};

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::Priority")]
pub enum Priority {
    None,
    Low,
    Medium,
    High,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Default)]
#[graphql(name = "OrderDirection", remote = "Direction")]
pub enum OrderDirection {
    #[default]
    Asc,
    Desc,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "TaskOrderFieldModel")]
pub enum TaskOrderField {
    CreatedAt,
    UpdatedAt,
    DueAt,
    Priority,
    Description,
}

#[derive(InputObject, Clone, Copy, Debug)]
pub struct TaskOrder {
    pub field: TaskOrderField,
    #[graphql(default)]
    pub direction: OrderDirection,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "CategoryOrderFieldModel")]
pub enum CategoryOrderField {
    Name,
    CreatedAt,
}

#[derive(InputObject, Clone, Copy, Debug)]
pub struct CategoryOrder {
    pub field: CategoryOrderField,
    #[graphql(default)]
    pub direction: OrderDirection,
}

/// Which tasks a list keeps; all given conditions must hold.
#[derive(InputObject, Clone, Debug, Default)]
pub struct TaskFilter {
    /// Case-insensitive substring of the description.
    pub search: Option<String>,
    /// Any of these priorities.
    pub priority: Option<Vec<Priority>>,
    pub done: Option<bool>,
    /// Due strictly before this instant.
    pub due_before: Option<DateTime<Utc>>,
    /// Due strictly after this instant.
    pub due_after: Option<DateTime<Utc>>,
    /// Linked to any of these categories.
    pub category_ids: Option<Vec<ID>>,
    /// Direct sub-tasks of this task.
    pub parent_id: Option<ID>,
    /// Only tasks without a parent (true) or only sub-tasks (false).
    pub top_level: Option<bool>,
}

impl TaskFilter {
    fn into_model(self) -> AppResult<TaskFilterModel> {
        Ok(TaskFilterModel {
            search: self.search,
            priority: self
                .priority
                .map(|ps| ps.into_iter().map(Into::into).collect()),
            done: self.done,
            due_before: self.due_before,
            due_after: self.due_after,
            category_ids: self
                .category_ids
                .map(|ids| ids::decode_all(&ids, NodeKind::Category, "filter.categoryIds"))
                .transpose()?,
            parent_id: self
                .parent_id
                .map(|id| ids::decode(&id, NodeKind::Task, "filter.parentId"))
                .transpose()?,
            top_level: self.top_level,
        })
    }
}

#[derive(InputObject, Clone, Debug, Default)]
pub struct CategoryFilter {
    /// Case-insensitive substring of the name.
    pub search: Option<String>,
}

/// The arguments every task list takes.
pub struct TaskListArgs {
    pub filter: Option<TaskFilter>,
    pub order_by: Option<Vec<TaskOrder>>,
    pub page: PageArgs,
}

impl TaskListArgs {
    pub fn into_query(self) -> AppResult<TaskListQuery> {
        let filter = self.filter.unwrap_or_default().into_model()?;
        let order = self
            .order_by
            .unwrap_or_default()
            .into_iter()
            .map(|o| TaskOrderModel {
                field: o.field.into(),
                direction: o.direction.into(),
            })
            .collect();
        TaskListQuery::new(filter, order, &self.page)
    }
}

pub fn category_query(
    filter: Option<CategoryFilter>,
    order_by: Option<Vec<CategoryOrder>>,
    page: PageArgs,
) -> AppResult<category_service::CategoryListQuery> {
    let filter = CategoryFilterModel {
        search: filter.and_then(|f| f.search),
    };
    let order = order_by
        .unwrap_or_default()
        .into_iter()
        .map(|o| CategoryOrderModel {
            field: o.field.into(),
            direction: o.direction.into(),
        })
        .collect();
    category_service::CategoryListQuery::new(filter, order, &page)
}

#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "A globally unique, opaque id."))]
pub enum Node {
    Task(Task),
    Category(Category),
}

/// A to-do item, possibly with sub-tasks and categories.
pub struct Task(pub task::Model);

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

    async fn start_at(&self) -> Option<DateTime<Utc>> {
        self.0.start_at
    }

    async fn due_at(&self) -> Option<DateTime<Utc>> {
        self.0.due_at
    }

    async fn done(&self) -> bool {
        self.0.done
    }

    /// When the task was last marked done; null while it is not done.
    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.0.completed_at
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// Starts at 1 and grows by one with every change; pass it back as
    /// `expectedVersion` to update only if nobody else changed the task.
    async fn version(&self) -> i32 {
        self.0.version
    }

    async fn parent(&self, ctx: &Context<'_>) -> Result<Option<Task>> {
        let Some(parent) = self.0.parent_id else {
            return Ok(None);
        };
        let loaders = ctx.data::<Loaders>()?;
        Ok(loaders.task_by_id.load_one(parent).await?.map(Task))
    }

    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "limits::page_cost(first, last, child_complexity)")]
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
        let args = TaskListArgs {
            filter,
            order_by,
            page: PageArgs {
                first,
                after,
                last,
                before,
            },
        };
        TaskConnection::scoped(ctx, Scope::Parent, self.0.id, args).await
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

/// A label tasks can share.
pub struct Category(pub category::Model);

#[Object]
impl Category {
    async fn id(&self) -> ID {
        ids::encode(NodeKind::Category, self.0.id)
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "limits::page_cost(first, last, child_complexity)")]
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
        let args = TaskListArgs {
            filter,
            order_by,
            page: PageArgs {
                first,
                after,
                last,
                before,
            },
        };
        TaskConnection::scoped(ctx, Scope::Category, self.0.id, args).await
    }
}

#[derive(SimpleObject, Clone)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

fn page_info<M>(page: &Page<M>) -> PageInfo {
    PageInfo {
        has_next_page: page.has_next_page,
        has_previous_page: page.has_previous_page,
        start_cursor: page.items.first().map(|(c, _)| c.clone()),
        end_cursor: page.items.last().map(|(c, _)| c.clone()),
    }
}

#[derive(SimpleObject)]
pub struct TaskEdge {
    pub cursor: String,
    pub node: Task,
}

/// How a connection's `totalCount` is found, only when asked for.
enum TaskTotal {
    All(TaskFilterModel),
    Scoped(ScopedCountKey),
}

pub struct TaskConnection {
    page: Page<task::Model>,
    total: TaskTotal,
}

impl TaskConnection {
    pub async fn all(ctx: &Context<'_>, args: TaskListArgs) -> Result<Self> {
        let query = args.into_query()?;
        let page = task_service::list(state(ctx)?.db(), &query).await?;
        prefetch_page(ctx, &page).await?;
        Ok(Self {
            page,
            total: TaskTotal::All(query.filter),
        })
    }

    async fn scoped(
        ctx: &Context<'_>,
        scope: Scope,
        owner: sea_orm::prelude::Uuid,
        args: TaskListArgs,
    ) -> Result<Self> {
        let query = Arc::new(args.into_query()?);
        let page = if selects_rows(ctx) {
            let key = ScopedPageKey {
                scope,
                owner,
                query: query.clone(),
            };
            let page = ctx
                .data::<Loaders>()?
                .scoped_pages
                .load_one(key)
                .await?
                .unwrap_or_else(Page::empty);
            prefetch_page(ctx, &page).await?;
            page
        } else {
            Page::empty()
        };
        Ok(Self {
            page,
            total: TaskTotal::Scoped(ScopedCountKey {
                scope,
                owner,
                filter: Arc::new(query.filter.clone()),
            }),
        })
    }
}

/// Whether the query wants anything of the page itself; `{ totalCount }`
/// alone needs only the count.
fn selects_rows(ctx: &Context<'_>) -> bool {
    let connection = ctx.look_ahead();
    ["edges", "nodes", "pageInfo"]
        .iter()
        .any(|field| connection.field(field).exists())
}

/// Loads what the query selects below this page for all its tasks at once.
async fn prefetch_page(ctx: &Context<'_>, page: &Page<task::Model>) -> Result<()> {
    if let Some(selection) = prefetch::task_selection(&ctx.look_ahead()) {
        let tasks = page.items.iter().map(|(_, t)| t.clone()).collect();
        prefetch::tasks(ctx.data::<Loaders>()?, selection, tasks).await;
    }
    Ok(())
}

#[Object]
impl TaskConnection {
    async fn edges(&self) -> Vec<TaskEdge> {
        self.page
            .items
            .iter()
            .map(|(cursor, t)| TaskEdge {
                cursor: cursor.clone(),
                node: Task(t.clone()),
            })
            .collect()
    }

    async fn nodes(&self) -> Vec<Task> {
        self.page
            .items
            .iter()
            .map(|(_, t)| Task(t.clone()))
            .collect()
    }

    async fn page_info(&self) -> PageInfo {
        page_info(&self.page)
    }

    /// All tasks matching the filter, across every page.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i32> {
        let n = match &self.total {
            TaskTotal::All(filter) => task_service::count(state(ctx)?.db(), filter).await?,
            TaskTotal::Scoped(key) => ctx
                .data::<Loaders>()?
                .scoped_counts
                .load_one(key.clone())
                .await?
                .unwrap_or(0),
        };
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }
}

#[derive(SimpleObject)]
pub struct CategoryEdge {
    pub cursor: String,
    pub node: Category,
}

pub struct CategoryConnection {
    pub page: Page<category::Model>,
    pub filter: CategoryFilterModel,
}

#[Object]
impl CategoryConnection {
    async fn edges(&self) -> Vec<CategoryEdge> {
        self.page
            .items
            .iter()
            .map(|(cursor, c)| CategoryEdge {
                cursor: cursor.clone(),
                node: Category(c.clone()),
            })
            .collect()
    }

    async fn nodes(&self) -> Vec<Category> {
        self.page
            .items
            .iter()
            .map(|(_, c)| Category(c.clone()))
            .collect()
    }

    async fn page_info(&self) -> PageInfo {
        page_info(&self.page)
    }

    async fn total_count(&self, ctx: &Context<'_>) -> Result<i32> {
        let n = category_service::count(state(ctx)?.db(), &self.filter).await?;
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }
}

/// `MaybeUndefined` for a field that may be omitted but never set to null.
pub fn not_null<T>(value: MaybeUndefined<T>, field: &str) -> AppResult<Option<T>> {
    match value {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => Err(AppError::bad_input(
            field,
            format!("`{field}` cannot be null"),
        )),
        MaybeUndefined::Value(v) => Ok(Some(v)),
    }
}

/// `MaybeUndefined` for a clearable field: omitted, cleared, or set.
pub fn clearable<T>(value: MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}
