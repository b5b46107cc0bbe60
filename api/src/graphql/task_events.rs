//! `Query.taskEvents`: the subscription's events and cursors, a page at a
//! time, for clients that poll or were offline.

use async_graphql::connection::{Edge, EmptyFields, PageInfo};
use async_graphql::{Context, Object, Result, SimpleObject};

use super::context::{scope, state};
use super::subscription::{TaskEvent, TaskEventFilter, to_graphql};
use crate::events::{DEFAULT_POLL_PAGE, EventPage, MAX_POLL_PAGE};

/// A page of task events in log order. `pageInfo.endCursor` is where the
/// next page starts: the last event's cursor, or the `after` given when
/// there is nothing new (null if none was given), so a poller can always
/// pass it back.
#[derive(SimpleObject)]
pub(crate) struct TaskEventConnection {
    /// Information to aid in pagination.
    page_info: PageInfo,
    /// A list of edges.
    edges: Vec<Edge<String, TaskEvent, EmptyFields>>,
    /// A list of nodes.
    nodes: Vec<TaskEvent>,
}

impl From<EventPage> for TaskEventConnection {
    fn from(page: EventPage) -> Self {
        Self {
            page_info: PageInfo {
                has_previous_page: false,
                has_next_page: page.has_next_page,
                start_cursor: page
                    .events
                    .first()
                    .map(|e| crate::events::cursor::encode(e.position)),
                end_cursor: page.end_cursor,
            },
            edges: page
                .events
                .iter()
                .map(|e| Edge::new(crate::events::cursor::encode(e.position), to_graphql(e)))
                .collect(),
            nodes: page.events.iter().map(to_graphql).collect(),
        }
    }
}

/// The cost of a page: its size (as checked) times what each event selects.
fn cost(first: Option<i32>, child_complexity: usize) -> usize {
    let page = first.map_or(DEFAULT_POLL_PAGE as usize, |n| {
        n.clamp(1, MAX_POLL_PAGE as i32) as usize
    });
    page.saturating_mul(child_complexity).saturating_add(1)
}

#[derive(Default)]
pub(crate) struct TaskEventQuery;

#[Object]
impl TaskEventQuery {
    /// The caller's task changes in the order they committed, the same
    /// events and cursors as the `taskEvents` subscription, `first` at a
    /// time (default 50, at most 100). Without `after`, from the oldest
    /// retained event; with it, from just after that cursor (an expired one
    /// is `CURSOR_EXPIRED`). Keep the page's `endCursor` and ask again.
    #[graphql(complexity = "cost(first, child_complexity)")]
    async fn task_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<TaskEventFilter>,
        after: Option<String>,
        first: Option<i32>,
    ) -> Result<TaskEventConnection> {
        let filter = filter.unwrap_or_default().decode()?;
        let page = state(ctx)?
            .hub()
            .page(&scope(ctx)?, after.as_deref(), &filter, first)
            .await?;
        Ok(page.into())
    }
}
