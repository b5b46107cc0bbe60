use std::collections::HashSet;

use async_graphql::{Context, Enum, ID, InputObject, Result, SimpleObject, Subscription};
use futures_util::{Stream, StreamExt};
use sea_orm::prelude::Uuid;

use super::context::state;
use super::ids::{self, NodeKind};
use super::objects::Task;
use crate::events::{TaskEvent as BusEvent, TaskEventKind as BusKind};

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "BusKind")]
pub enum TaskEventKind {
    Created,
    Updated,
    Deleted,
}

/// Which events a subscription receives; all given conditions must hold.
#[derive(InputObject, Default)]
pub struct TaskEventFilter {
    pub kinds: Option<Vec<TaskEventKind>>,
    pub task_ids: Option<Vec<ID>>,
    /// Only events of direct sub-tasks of this task (deletions carry no parent
    /// and are matched by `taskIds` only).
    pub parent_id: Option<ID>,
}

#[derive(SimpleObject)]
pub struct TaskEvent {
    pub kind: TaskEventKind,
    pub task_id: ID,
    /// The task as committed; null once deleted.
    pub task: Option<Task>,
}

struct Matcher {
    kinds: Option<HashSet<BusKind>>,
    task_ids: Option<HashSet<Uuid>>,
    parent_id: Option<Uuid>,
}

impl Matcher {
    fn matches(&self, event: &BusEvent) -> bool {
        self.kinds.as_ref().is_none_or(|k| k.contains(&event.kind))
            && self
                .task_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&event.task_id))
            && self
                .parent_id
                .is_none_or(|p| event.task.as_ref().is_some_and(|t| t.parent_id == Some(p)))
    }
}

pub struct Subscription;

#[Subscription]
impl Subscription {
    /// Task changes, each sent once its transaction has committed.
    async fn task_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<TaskEventFilter>,
    ) -> Result<impl Stream<Item = TaskEvent> + use<>> {
        let filter = filter.unwrap_or_default();
        let matcher = Matcher {
            kinds: filter
                .kinds
                .map(|ks| ks.into_iter().map(Into::into).collect()),
            task_ids: filter
                .task_ids
                .map(|ids| ids::decode_all(&ids, NodeKind::Task, "filter.taskIds"))
                .transpose()?
                .map(|ids| ids.into_iter().collect()),
            parent_id: filter
                .parent_id
                .map(|id| ids::decode(&id, NodeKind::Task, "filter.parentId"))
                .transpose()?,
        };
        let events = state(ctx)?.events().subscribe();
        Ok(events.filter_map(move |event| {
            let out = matcher.matches(&event).then(|| TaskEvent {
                kind: event.kind.into(),
                task_id: ids::encode(NodeKind::Task, event.task_id),
                task: event.task.map(Task),
            });
            async move { out }
        }))
    }
}
