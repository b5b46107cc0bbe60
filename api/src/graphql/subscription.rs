use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

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

/// Put in a request's data by the engine when one execution serves every
/// socket with the same live subscription (see `engine::feeds`): where the
/// execution starts, and where the resolver records which event its latest
/// result is of, so the feed knows whom to send it to.
pub(crate) struct FeedTap {
    pub start: i64,
    /// `None` for an execution that serves one socket only.
    pub taken: Option<Arc<Taken>>,
}

/// The event behind a feed's latest result. async-graphql resolves a
/// subscription's items one at a time (`StreamExt::then`): the next event is
/// taken only after the previous result was handed on, so when a result
/// reaches the feed, this names its event.
#[derive(Default)]
pub(crate) struct Taken {
    position: AtomicI64,
    occurred_at_micros: AtomicI64,
}

impl Taken {
    pub fn starting_at(position: i64) -> Self {
        Self {
            position: AtomicI64::new(position),
            occurred_at_micros: AtomicI64::new(0),
        }
    }

    fn take(&self, event: &Event) {
        self.record(event.position, event.occurred_at.timestamp_micros());
    }

    pub(crate) fn record(&self, position: i64, occurred_at_micros: i64) {
        self.occurred_at_micros
            .store(occurred_at_micros, Ordering::Relaxed);
        self.position.store(position, Ordering::Release);
    }

    /// The latest event's position and when it happened.
    pub fn latest(&self) -> (i64, i64) {
        let position = self.position.load(Ordering::Acquire);
        (position, self.occurred_at_micros.load(Ordering::Relaxed))
    }
}

/// Records how long after it happened an event reached a subscriber.
pub(crate) fn record_delivery_lag(occurred_at: chrono::DateTime<chrono::Utc>) {
    record_delivery_lags(occurred_at, 1);
}

/// Records the lag of one event reaching `sockets` subscribers at once:
/// one clock read and one histogram lookup for all of them.
pub(crate) fn record_delivery_lags(occurred_at: chrono::DateTime<chrono::Utc>, sockets: usize) {
    let lag = (chrono::Utc::now() - occurred_at).as_seconds_f64().max(0.0);
    let histogram = histogram!(crate::metrics::EVENTS_DELIVERY_LAG);
    for _ in 0..sockets {
        histogram.record(lag);
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
        let tap = ctx.data_opt::<FeedTap>();
        let start = match tap {
            Some(tap) => tap.start,
            None => hub.start(after.as_deref()).await?,
        };
        // A feed records the lag for each socket it sends the event to.
        let taken = tap.and_then(|tap| tap.taken.clone());
        Ok(hub.events(start).filter_map(move |event| {
            let out = match event {
                Ok(event) if matcher.matches(&event) => {
                    match &taken {
                        Some(taken) => taken.take(&event),
                        None => record_delivery_lag(event.occurred_at),
                    }
                    Some(Ok(to_graphql(&event)))
                }
                Ok(_) => None,
                Err(err) => Some(Err(err.into())),
            };
            async move { out }
        }))
    }
}
