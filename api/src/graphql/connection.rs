//! Relay connections: async-graphql's generic connection, edge and page-info
//! shape for every list, with a `totalCount` computed only when selected;
//! and the three ways a list is fetched (all tasks, a nested task list,
//! categories).

use std::sync::Arc;

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Object, OutputType, Result};
use entity::task;
use sea_orm::prelude::Uuid;
use tokio::sync::OnceCell;

use super::context::scope;
use super::inputs::{CategoryListArgs, TaskListArgs};
use super::loaders::{Loaders, ScopedCountKey, ScopedPageKey};
use super::objects::{Category, Task};
use super::prefetch;
use crate::service::categories::{self as category_service, CategoryFilter};
use crate::service::page::{Count, Page};
use crate::service::tasks::{self as task_service, Holder, TaskFilter};

/// The cost of a connection field: its page size (as the service clamps it)
/// times what is selected inside it.
pub(crate) fn page_cost(first: Option<i32>, last: Option<i32>, child_complexity: usize) -> usize {
    use crate::service::page::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
    let page = first.or(last).map_or(DEFAULT_PAGE_SIZE as usize, |n| {
        n.clamp(0, MAX_PAGE_SIZE as i32) as usize
    });
    page.max(1)
        .saturating_mul(child_complexity)
        .saturating_add(1)
}

pub(crate) type TaskConnection = Connection<String, Task, TotalCount>;
pub(crate) type CategoryConnection = Connection<String, Category, TotalCount>;

/// A connection's count, found only when asked for, and once for both of
/// its fields.
pub(crate) struct TotalCount {
    of: CountOf,
    counted: OnceCell<Count>,
}

/// What a connection counts.
enum CountOf {
    Tasks(TaskFilter),
    Scoped(ScopedCountKey),
    Categories(CategoryFilter),
}

impl TotalCount {
    fn new(of: CountOf) -> Self {
        Self {
            of,
            counted: OnceCell::new(),
        }
    }

    async fn get(&self, ctx: &Context<'_>) -> Result<Count> {
        let count = self
            .counted
            .get_or_try_init(async || -> Result<Count> {
                Ok(match &self.of {
                    CountOf::Tasks(filter) => task_service::count(&scope(ctx)?, filter).await?,
                    CountOf::Scoped(key) => Count::exact(
                        ctx.data::<Loaders>()?
                            .scoped_counts
                            .load_one(key.clone())
                            .await?
                            .unwrap_or(0),
                    ),
                    CountOf::Categories(filter) => {
                        Count::exact(category_service::count(&scope(ctx)?, filter).await?)
                    }
                })
            })
            .await?;
        Ok(*count)
    }
}

// The schema's descriptions below name the limit.
const _: () = assert!(task_service::SEARCH_COUNT_LIMIT == 1000);

#[Object]
impl TotalCount {
    /// How many match the filter, across every page. A search in the root
    /// `tasks` list stops counting past 1000 matches: then `totalCount` is
    /// 1000 and `totalCountIsExact` false.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i32> {
        let count = self.get(ctx).await?;
        Ok(i32::try_from(count.n).unwrap_or(i32::MAX))
    }

    /// False when more match than `totalCount` says (a search with over
    /// 1000 matches); true otherwise.
    async fn total_count_is_exact(&self, ctx: &Context<'_>) -> Result<bool> {
        Ok(self.get(ctx).await?.exact)
    }
}

fn connection<M, N: OutputType>(
    page: Page<M>,
    node: impl Fn(M) -> N,
    total: TotalCount,
) -> Connection<String, N, TotalCount> {
    let mut connection =
        Connection::with_additional_fields(page.has_previous_page, page.has_next_page, total);
    connection.edges.extend(
        page.items
            .into_iter()
            .map(|(cursor, model)| Edge::new(cursor, node(model))),
    );
    connection
}

/// `tasks(...)` at the root.
pub(crate) async fn tasks(ctx: &Context<'_>, args: TaskListArgs) -> Result<TaskConnection> {
    let query = args.into_query()?;
    let page = task_service::list(&scope(ctx)?, &query).await?;
    prefetch_below(ctx, &page).await?;
    Ok(connection(
        page,
        Task,
        TotalCount::new(CountOf::Tasks(query.filter)),
    ))
}

/// A nested task list: `Task.subtasks` or `Category.tasks` of `holder`.
pub(crate) async fn scoped_tasks(
    ctx: &Context<'_>,
    list: Holder,
    holder: Uuid,
    args: TaskListArgs,
) -> Result<TaskConnection> {
    let query = Arc::new(args.into_query()?);
    let page = if selects_rows(ctx) {
        let key = ScopedPageKey {
            kind: list,
            holder,
            query: query.clone(),
        };
        let page = ctx
            .data::<Loaders>()?
            .scoped_pages
            .load_one(key)
            .await?
            .unwrap_or_else(Page::empty);
        prefetch_below(ctx, &page).await?;
        page
    } else {
        Page::empty()
    };
    let total = TotalCount::new(CountOf::Scoped(ScopedCountKey {
        kind: list,
        holder,
        filter: Arc::new(query.filter.clone()),
    }));
    Ok(connection(page, Task, total))
}

/// `categories(...)` at the root.
pub(crate) async fn categories(
    ctx: &Context<'_>,
    args: CategoryListArgs,
) -> Result<CategoryConnection> {
    let query = args.into_query()?;
    let page = category_service::list(&scope(ctx)?, &query).await?;
    if let Some(selection) = prefetch::node_selection(&ctx.look_ahead()) {
        let ids = page.items.iter().map(|(_, c)| c.id).collect();
        prefetch::categories(ctx.data::<Loaders>()?, selection, ids).await;
    }
    Ok(connection(
        page,
        Category,
        TotalCount::new(CountOf::Categories(query.filter)),
    ))
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
async fn prefetch_below(ctx: &Context<'_>, page: &Page<task::Model>) -> Result<()> {
    if let Some(selection) = prefetch::node_selection(&ctx.look_ahead()) {
        let tasks = page.items.iter().map(|(_, t)| t.clone()).collect();
        prefetch::tasks(ctx.data::<Loaders>()?, selection, tasks).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_cost_their_page_size() {
        assert_eq!(page_cost(Some(100), None, 3), 301);
        assert_eq!(page_cost(None, Some(5), 2), 11);
        assert_eq!(page_cost(None, None, 1), 21);
        assert_eq!(page_cost(Some(-5), None, 4), 5);
        assert_eq!(page_cost(Some(i32::MAX), None, usize::MAX), usize::MAX);
    }
}
