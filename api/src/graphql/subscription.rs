use std::collections::HashSet;
use std::sync::Arc;

use async_graphql::{Context, Enum, ID, InputObject, Result, SimpleObject, Subscription};
use futures_util::{Stream, StreamExt};
use metrics::histogram;
use sea_orm::prelude::Uuid;

use super::context::{owner, state};
use super::ids::{self, NodeKind};
use super::objects::Task;
use super::scalars::DateTime;
use crate::error::AppResult;
use crate::events::{Event, EventFilter, EventKind, cursor};
use crate::service::Owner;

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "EventKind")]
pub(crate) enum TaskEventKind {
    Created,
    Updated,
    Deleted,
    /// The task's `remindAt` came (the task itself did not change: its
    /// version is the one it had).
    ReminderDue,
}

/// Which events a subscription (or a `taskEvents` page) holds; all given
/// conditions must hold.
#[derive(InputObject, Default)]
pub(crate) struct TaskEventFilter {
    pub(crate) kinds: Option<Vec<TaskEventKind>>,
    pub(crate) task_ids: Option<Vec<ID>>,
    /// Only events of direct sub-tasks of this task (deletions carry no parent
    /// and are matched by `taskIds` only).
    pub(crate) parent_id: Option<ID>,
}

impl TaskEventFilter {
    /// The filter with its ids decoded (a bad one is `BAD_USER_INPUT`).
    pub(crate) fn decode(self) -> AppResult<EventFilter> {
        Ok(EventFilter {
            kinds: self
                .kinds
                .map(|ks| ks.into_iter().map(Into::into).collect()),
            task_ids: self
                .task_ids
                .map(|ids| ids::decode_all(&ids, NodeKind::Task, "filter.taskIds"))
                .transpose()?,
            parent_id: self
                .parent_id
                .map(|id| ids::decode(&id, NodeKind::Task, "filter.parentId"))
                .transpose()?,
        })
    }
}

#[derive(SimpleObject)]
pub(crate) struct TaskEvent {
    /// Where this event stands in the log: pass the last one you received as
    /// `after` to resume, on any replica, exactly after it.
    pub(crate) cursor: String,
    pub(crate) kind: TaskEventKind,
    pub(crate) task_id: ID,
    /// The task's version after the change (for a deletion, one past its
    /// last version).
    pub(crate) version: i32,
    /// When the change was made.
    pub(crate) occurred_at: DateTime,
    /// The task as committed; null once deleted.
    pub(crate) task: Option<Task>,
    /// For `REMINDER_DUE`: whether the reminder fired late, well after its
    /// time (it came due while the service was not running). Null for
    /// other kinds.
    pub(crate) late: Option<bool>,
}

struct Matcher {
    /// The subscriber's: nobody hears of another owner's tasks.
    owner: Owner,
    kinds: Option<HashSet<EventKind>>,
    task_ids: Option<HashSet<Uuid>>,
    parent_id: Option<Uuid>,
}

impl Matcher {
    fn matches(&self, event: &Event) -> bool {
        event.owner_id == self.owner.as_str()
            && self.kinds.as_ref().is_none_or(|k| k.contains(&event.kind))
            && self
                .task_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&event.task_id))
            && self
                .parent_id
                .is_none_or(|p| event.task.as_ref().is_some_and(|t| t.parent_id == Some(p)))
    }
}

pub(crate) fn to_graphql(event: &Event) -> TaskEvent {
    TaskEvent {
        cursor: cursor::encode(event.position),
        kind: event.kind.into(),
        task_id: ids::encode(NodeKind::Task, event.task_id),
        version: event.version,
        occurred_at: DateTime(event.occurred_at),
        task: event.task.clone().map(Task),
        late: event.late,
    }
}

pub struct Subscription;

#[Subscription]
impl Subscription {
    /// Task changes, in the order they committed, each once. With `after`
    /// (a `cursor` from an earlier event), first every retained event after
    /// it, then the new ones; an expired cursor is `CURSOR_EXPIRED`.
    async fn task_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<TaskEventFilter>,
        after: Option<String>,
    ) -> Result<impl Stream<Item = Result<TaskEvent>> + use<>> {
        let filter = filter.unwrap_or_default().decode()?;
        let matcher = Matcher {
            owner: owner(ctx)?.clone(),
            kinds: filter.kinds.map(|ks| ks.into_iter().collect()),
            task_ids: filter.task_ids.map(|ids| ids.into_iter().collect()),
            parent_id: filter.parent_id,
        };
        let hub = Arc::clone(state(ctx)?.hub());
        let start = hub.start(after.as_deref()).await?;
        Ok(hub.events(start).filter_map(move |event| {
            let out = match event {
                Ok(event) if matcher.matches(&event) => {
                    let lag = chrono::Utc::now() - event.occurred_at;
                    histogram!(crate::metrics::EVENTS_DELIVERY_LAG)
                        .record(lag.as_seconds_f64().max(0.0));
                    Some(Ok(to_graphql(&event)))
                }
                Ok(_) => None,
                Err(err) => Some(Err(err.into())),
            };
            async move { out }
        }))
    }
}
