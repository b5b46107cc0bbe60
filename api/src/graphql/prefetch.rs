//! Look-ahead prefetching: when a page of tasks is known, the nested fields the
//! query selects below it are loaded for the whole page at once (one statement
//! per field and level) into the request's DataLoader cache, so the per-row
//! loads that follow are all cache hits. Batching then does not depend on the
//! DataLoader's time window, which a busy machine can cut short.
//!
//! Prefetching is only an optimisation: anything it cannot do (bad arguments,
//! a failed statement) is left to the resolvers, which report it properly.

use std::collections::HashSet;
use std::sync::Arc;

use async_graphql::{InputType, Lookahead, Name, SelectionField, Value};
use entity::task;
use futures_util::future::BoxFuture;
use sea_orm::prelude::Uuid;

use super::inputs::{TaskFilter, TaskListArgs, TaskOrder};
use super::loaders::{Loaders, ScopedCountKey, ScopedPageKey};
use crate::service::page::PageArgs;
use crate::service::tasks::Holder;

/// The selection on each node of a connection (`nodes` and `edges.node`).
pub(crate) fn node_selection<'a>(connection: &Lookahead<'a>) -> Option<Lookahead<'a>> {
    let mut fields = connection.field("nodes").selection_fields();
    fields.extend(connection.field("edges").field("node").selection_fields());
    Lookahead::try_from(fields.as_slice()).ok()
}

/// Prefetches what `selection` asks of each of `tasks`.
pub(crate) fn tasks<'a>(
    loaders: &'a Loaders,
    selection: Lookahead<'a>,
    tasks: Vec<task::Model>,
) -> BoxFuture<'a, ()> {
    Box::pin(async move {
        if !loaders.cached || tasks.is_empty() {
            return;
        }
        let ids: Vec<Uuid> = tasks.iter().map(|t| t.id).collect();
        if selection.field("categories").exists() {
            let _ = loaders
                .categories_of_task
                .load_many(ids.iter().copied())
                .await;
        }
        if selection.field("parent").exists() {
            let parents: HashSet<Uuid> = tasks.iter().filter_map(|t| t.parent_id).collect();
            if !parents.is_empty() {
                let _ = loaders.task_by_id.load_many(parents).await;
            }
        }
        let subtasks = selection.field("subtasks").selection_fields();
        if !subtasks.is_empty() {
            // These rows are the parents of the sub-tasks: `parent` below
            // is then a cache hit.
            loaders
                .task_by_id
                .feed_many(tasks.iter().map(|t| (t.id, t.clone())))
                .await;
        }
        for field in subtasks {
            scoped(loaders, Holder::Parent, &ids, field).await;
        }
    })
}

/// Prefetches `tasks(...)` of each of a page of categories.
pub(crate) async fn categories(loaders: &Loaders, selection: Lookahead<'_>, ids: Vec<Uuid>) {
    if !loaders.cached || ids.is_empty() {
        return;
    }
    for field in selection.field("tasks").selection_fields() {
        scoped(loaders, Holder::Category, &ids, field).await;
    }
}

/// Prefetches one nested task list (`subtasks(...)` or `tasks(...)`) for
/// every holder, then what is selected below it.
pub(crate) async fn scoped(
    loaders: &Loaders,
    kind: Holder,
    holders: &[Uuid],
    field: SelectionField<'_>,
) {
    let Some(query) = field
        .arguments()
        .ok()
        .and_then(list_args)
        .and_then(|args| args.into_query().ok())
    else {
        return;
    };
    let query = Arc::new(query);
    let lookahead = Lookahead::from(field);
    if lookahead.field("totalCount").exists() {
        let filter = Arc::new(query.filter.clone());
        let keys = holders.iter().map(|&holder| ScopedCountKey {
            kind,
            holder,
            filter: filter.clone(),
        });
        let _ = loaders.scoped_counts.load_many(keys).await;
    }
    let Some(selection) = node_selection(&lookahead) else {
        return;
    };
    let keys = holders.iter().map(|&holder| ScopedPageKey {
        kind,
        holder,
        query: query.clone(),
    });
    let Ok(pages) = loaders.scoped_pages.load_many(keys).await else {
        return;
    };
    let rows = pages
        .into_values()
        .flat_map(|page| page.items.into_iter().map(|(_, t)| t))
        .collect();
    tasks(loaders, selection, rows).await;
}

/// A list field's arguments, as its resolver will see them.
fn list_args(arguments: Vec<(Name, Value)>) -> Option<TaskListArgs> {
    let mut args = TaskListArgs {
        filter: None,
        order_by: None,
        page: PageArgs::default(),
    };
    for (name, value) in arguments {
        let value = Some(value);
        match name.as_str() {
            "filter" => args.filter = Option::<TaskFilter>::parse(value).ok()?,
            "orderBy" => args.order_by = Option::<Vec<TaskOrder>>::parse(value).ok()?,
            "first" => args.page.first = Option::<i32>::parse(value).ok()?,
            "last" => args.page.last = Option::<i32>::parse(value).ok()?,
            "after" => args.page.after = Option::<String>::parse(value).ok()?,
            "before" => args.page.before = Option::<String>::parse(value).ok()?,
            _ => return None,
        }
    }
    Some(args)
}
