//! What clients send: filters, orders and the arguments of every list.

use async_graphql::{Enum, ID, InputObject, MaybeUndefined};

use super::ids::{self, NodeKind};
use super::objects::Priority;
use super::scalars::DateTime;
use crate::error::{AppError, AppResult};
use crate::service::categories::{
    CategoryFilter as CategoryFilterModel, CategoryOrder as CategoryOrderModel,
    CategoryOrderField as CategoryOrderFieldModel,
};
use crate::service::page::{Direction, ListOrder, ListQuery, PageArgs};
use crate::service::search::SearchQuery;
use crate::service::tasks::{
    TaskFilter as TaskFilterModel, TaskOrder as TaskOrderModel,
    TaskOrderField as TaskOrderFieldModel,
};

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Default)]
#[graphql(name = "OrderDirection", remote = "Direction")]
pub(crate) enum OrderDirection {
    #[default]
    Asc,
    Desc,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "TaskOrderFieldModel")]
pub(crate) enum TaskOrderField {
    CreatedAt,
    UpdatedAt,
    DueAt,
    Priority,
    Description,
    /// How well a task matches `filter.search` (only with a search; `DESC`:
    /// the best match first). Ties are broken by id.
    Relevance,
    /// The owner's own order (`moveTask`; `createTask`'s `before` and
    /// `after`). Each list of siblings has its own: the top level, and the
    /// sub-tasks of each task. A list of several (no `topLevel` or
    /// `parentId` filter) interleaves them by `position`.
    Position,
}

#[derive(InputObject, Clone, Copy, Debug)]
pub(crate) struct TaskOrder {
    pub(crate) field: TaskOrderField,
    #[graphql(default)]
    pub(crate) direction: OrderDirection,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "CategoryOrderFieldModel")]
pub(crate) enum CategoryOrderField {
    Name,
    CreatedAt,
}

#[derive(InputObject, Clone, Copy, Debug)]
pub(crate) struct CategoryOrder {
    pub(crate) field: CategoryOrderField,
    #[graphql(default)]
    pub(crate) direction: OrderDirection,
}

/// Which tasks a list keeps; all given conditions must hold.
#[derive(InputObject, Clone, Debug, Default)]
pub(crate) struct TaskFilter {
    /// Full-text search of the description. Every word must match, stemmed
    /// (`buying milk` finds "Buy milk") and ignoring case, accents and the
    /// language's stop words; `"a quoted phrase"` matches as a phrase;
    /// `-word` or `-"a phrase"` excludes; the last word, unless quoted or
    /// excluded, also matches as a prefix (`mil` finds "milk"). Punctuation
    /// only separates words, and no
    /// input is an error except one over 1000 characters or 32 words and
    /// phrases. Blank: no search. Exclusions alone: every task without them.
    /// Nothing left to look for (only punctuation, emoji or stop words):
    /// no task.
    pub(crate) search: Option<String>,
    /// Any of these priorities.
    pub(crate) priority: Option<Vec<Priority>>,
    pub(crate) done: Option<bool>,
    /// Due strictly before this instant.
    pub(crate) due_before: Option<DateTime>,
    /// Due strictly after this instant.
    pub(crate) due_after: Option<DateTime>,
    /// Linked to any of these categories.
    pub(crate) category_ids: Option<Vec<ID>>,
    /// Direct sub-tasks of this task.
    pub(crate) parent_id: Option<ID>,
    /// Only tasks without a parent (true) or only sub-tasks (false).
    pub(crate) top_level: Option<bool>,
}

/// What a client sent, as the service takes it (ids and dates decoded).
pub(crate) trait IntoModel {
    type Model;
    fn into_model(self) -> AppResult<Self::Model>;
}

impl IntoModel for TaskFilter {
    type Model = TaskFilterModel;

    fn into_model(self) -> AppResult<TaskFilterModel> {
        Ok(TaskFilterModel {
            search: self.search.as_deref().map(SearchQuery::parse).transpose()?,
            priority: self
                .priority
                .map(|ps| ps.into_iter().map(Into::into).collect()),
            done: self.done,
            due_before: self.due_before.map(Into::into),
            due_after: self.due_after.map(Into::into),
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
pub(crate) struct CategoryFilter {
    /// Case-insensitive substring of the name.
    pub(crate) search: Option<String>,
}

/// The arguments of a list, as sent: its filter, its order and a page.
pub(crate) struct ListArgs<F, O> {
    pub(crate) filter: Option<F>,
    pub(crate) order_by: Option<Vec<O>>,
    pub(crate) page: PageArgs,
}

impl<F, O> ListArgs<F, O> {
    pub(crate) fn new(
        filter: Option<F>,
        order_by: Option<Vec<O>>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Self {
        let page = PageArgs::new(first, after, last, before);
        Self {
            filter,
            order_by,
            page,
        }
    }
}

pub(crate) type TaskListArgs = ListArgs<TaskFilter, TaskOrder>;
pub(crate) type CategoryListArgs = ListArgs<CategoryFilter, CategoryOrder>;

impl<F, O> ListArgs<F, O>
where
    F: IntoModel + Default,
    O: IntoModel,
    O::Model: ListOrder<Filter = F::Model>,
{
    /// Decodes ids and cursors and checks the page: the service's query.
    pub(crate) fn into_query(self) -> AppResult<ListQuery<F::Model, O::Model>> {
        let filter = self.filter.unwrap_or_default().into_model()?;
        let order = self
            .order_by
            .unwrap_or_default()
            .into_iter()
            .map(IntoModel::into_model)
            .collect::<AppResult<_>>()?;
        ListQuery::new(filter, order, &self.page)
    }
}

impl IntoModel for CategoryFilter {
    type Model = CategoryFilterModel;

    fn into_model(self) -> AppResult<CategoryFilterModel> {
        Ok(CategoryFilterModel {
            search: self.search,
        })
    }
}

impl IntoModel for TaskOrder {
    type Model = TaskOrderModel;

    fn into_model(self) -> AppResult<TaskOrderModel> {
        Ok(TaskOrderModel {
            field: self.field.into(),
            direction: self.direction.into(),
        })
    }
}

impl IntoModel for CategoryOrder {
    type Model = CategoryOrderModel;

    fn into_model(self) -> AppResult<CategoryOrderModel> {
        Ok(CategoryOrderModel {
            field: self.field.into(),
            direction: self.direction.into(),
        })
    }
}

/// `MaybeUndefined` for a field that may be omitted but never set to null.
pub(crate) fn not_null<T>(value: MaybeUndefined<T>, field: &str) -> AppResult<Option<T>> {
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
pub(crate) fn clearable<T>(value: MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}
