//! Task change events behind a small trait, so a multi-replica implementation
//! (PostgreSQL LISTEN/NOTIFY) can replace the in-process one.

use entity::task;
use futures_util::stream::{BoxStream, StreamExt};
use sea_orm::prelude::Uuid;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskEventKind {
    Created,
    Updated,
    Deleted,
}

#[derive(Debug, Clone)]
pub struct TaskEvent {
    pub kind: TaskEventKind,
    pub task_id: Uuid,
    /// The task as committed; `None` for deletions.
    pub task: Option<task::Model>,
}

impl TaskEvent {
    pub fn created(task: &task::Model) -> Self {
        Self {
            kind: TaskEventKind::Created,
            task_id: task.id,
            task: Some(task.clone()),
        }
    }

    pub fn updated(task: &task::Model) -> Self {
        Self {
            kind: TaskEventKind::Updated,
            task_id: task.id,
            task: Some(task.clone()),
        }
    }

    pub fn deleted(task_id: Uuid) -> Self {
        Self {
            kind: TaskEventKind::Deleted,
            task_id,
            task: None,
        }
    }
}

/// Publishes committed changes to every subscriber. Publishing never blocks:
/// callers publish right after their transaction commits.
pub trait EventBus: Send + Sync + 'static {
    fn publish(&self, event: TaskEvent);
    fn subscribe(&self) -> BoxStream<'static, TaskEvent>;
}

/// Delivers events to subscribers of this process only.
pub struct InProcessBus {
    sender: broadcast::Sender<TaskEvent>,
}

impl InProcessBus {
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity);
        Self { sender }
    }
}

impl Default for InProcessBus {
    fn default() -> Self {
        Self::new(1024)
    }
}

impl EventBus for InProcessBus {
    fn publish(&self, event: TaskEvent) {
        // No subscribers is not an error.
        let _ = self.sender.send(event);
    }

    fn subscribe(&self) -> BoxStream<'static, TaskEvent> {
        BroadcastStream::new(self.sender.subscribe())
            .filter_map(|received| async move {
                match received {
                    Ok(event) => Some(event),
                    Err(lagged) => {
                        // A subscriber too slow to keep up skips events rather
                        // than holding everyone else back.
                        tracing::warn!(error = %lagged, "subscriber lagged; events dropped");
                        None
                    }
                }
            })
            .boxed()
    }
}
