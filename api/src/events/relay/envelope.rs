//! What the relay publishes: one CloudEvents 1.0 event per change, JSON in
//! structured mode, its `data` the task as a GraphQL client reads `Task`.

use axum::body::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use entity::task::{self, DEFAULT_TIME_ZONE, Priority};
use serde::Serialize;

use crate::events::{Event, EventKind};
use crate::ids::{self, NodeKind};

/// The content type of a structured-mode CloudEvent.
pub const CONTENT_TYPE: &str = "application/cloudevents+json";

/// One event, ready for any sink.
#[derive(Debug, Clone)]
pub struct Message {
    /// The event's position in the log, as text: the CloudEvents `id`,
    /// the same on every redelivery.
    pub id: String,
    pub position: i64,
    pub kind: EventKind,
    /// The whole CloudEvent as JSON (shared, not copied, by every try and
    /// every client that sends it).
    pub body: Bytes,
}

impl Message {
    pub fn new(event: &Event, source: &str) -> serde_json::Result<Self> {
        let id = event.position.to_string();
        let subject = ids::encode(NodeKind::Task, event.task_id).0;
        let data = match &event.task {
            Some(task) => Data::Task(Box::new(TaskData::new(task))),
            None => Data::Deleted {
                id: subject.clone(),
                version: event.version,
            },
        };
        let body = serde_json::to_vec(&CloudEvent {
            specversion: "1.0",
            id: &id,
            source,
            ty: event_type(event.kind),
            subject: &subject,
            time: rfc3339(event.occurred_at),
            datacontenttype: "application/json",
            todoowner: &event.owner_id,
            todolate: event.late,
            data,
        })?;
        Ok(Self {
            id,
            position: event.position,
            kind: event.kind,
            body: Bytes::from(body),
        })
    }

    /// `created`, `updated`, `deleted` or `reminder_due`: the last part of
    /// subjects and routing keys.
    pub fn verb(&self) -> &'static str {
        match self.kind {
            EventKind::Created => "created",
            EventKind::Updated => "updated",
            EventKind::Deleted => "deleted",
            EventKind::ReminderDue => "reminder_due",
        }
    }
}

/// The CloudEvents `type`: versioned, so a changed `data` can come as v2
/// beside v1.
pub fn event_type(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Created => "todo.task.created.v1",
        EventKind::Updated => "todo.task.updated.v1",
        EventKind::Deleted => "todo.task.deleted.v1",
        EventKind::ReminderDue => "todo.task.reminder_due.v1",
    }
}

#[derive(Serialize)]
struct CloudEvent<'a> {
    specversion: &'static str,
    id: &'a str,
    source: &'a str,
    #[serde(rename = "type")]
    ty: &'static str,
    subject: &'a str,
    time: String,
    datacontenttype: &'static str,
    /// Extension attribute: whose task changed (`User.id`), so a consumer
    /// can route or filter without parsing `data`.
    todoowner: &'a str,
    /// Extension attribute, on `reminder_due` only: whether the reminder
    /// fired late (it came due while no replica ran).
    #[serde(skip_serializing_if = "Option::is_none")]
    todolate: Option<bool>,
    data: Data,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Data {
    Task(Box<TaskData>),
    Deleted { id: String, version: i32 },
}

/// `Task`'s scalar fields and its links, as the GraphQL schema names and
/// formats them. Categories are not part of the event: a change of a
/// task's categories is not a change of the task row the log records.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TaskData {
    id: String,
    description: String,
    priority: &'static str,
    start_at: Option<String>,
    due_at: Option<String>,
    done: bool,
    completed_at: Option<String>,
    created_at: String,
    updated_at: String,
    recurrence: Option<String>,
    time_zone: String,
    remind_at: Option<String>,
    position: String,
    version: i32,
    owner: Link,
    parent: Option<Link>,
}

#[derive(Serialize)]
struct Link {
    id: String,
}

impl TaskData {
    fn new(task: &task::Model) -> Self {
        Self {
            id: ids::encode(NodeKind::Task, task.id).0,
            description: task.description.clone(),
            priority: match task.priority {
                Priority::None => "NONE",
                Priority::Low => "LOW",
                Priority::Medium => "MEDIUM",
                Priority::High => "HIGH",
            },
            start_at: task.start_at.map(rfc3339),
            due_at: task.due_at.map(rfc3339),
            done: task.done,
            completed_at: task.completed_at.map(rfc3339),
            created_at: rfc3339(task.created_at),
            updated_at: rfc3339(task.updated_at),
            recurrence: task.recurrence.clone(),
            time_zone: task
                .time_zone
                .clone()
                .unwrap_or_else(|| DEFAULT_TIME_ZONE.to_owned()),
            remind_at: task.remind_at.map(rfc3339),
            position: task.position.clone(),
            version: task.version,
            owner: Link {
                id: task.owner_id.clone(),
            },
            parent: task.parent_id.map(|parent| Link {
                id: ids::encode(NodeKind::Task, parent).0,
            }),
        }
    }
}

/// As the `DateTime` scalar writes it (tests compare the two).
fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}
