use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Stored as a small integer so that `ORDER BY priority` sorts by urgency.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "i16", db_type = "SmallInteger")]
pub enum Priority {
    #[sea_orm(num_value = 0)]
    None,
    #[sea_orm(num_value = 1)]
    Low,
    #[sea_orm(num_value = 2)]
    Medium,
    #[sea_orm(num_value = 3)]
    High,
}

/// The zone a task's recurrence is reckoned in when it names none.
pub const DEFAULT_TIME_ZONE: &str = "UTC";

/// Serialisable: the event log keeps a task as committed.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Whose it is: the subject of the token that created it.
    pub owner_id: String,
    pub description: String,
    pub priority: Priority,
    pub start_at: Option<DateTimeUtc>,
    pub due_at: Option<DateTimeUtc>,
    pub done: bool,
    pub completed_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub version: i32,
    pub parent_id: Option<Uuid>,
    /// An RFC 5545 RRULE (`FREQ=WEEKLY;BYDAY=MO`): completing the task
    /// creates its next occurrence. Defaults: the event log holds snapshots
    /// from before recurrence.
    #[serde(default)]
    pub recurrence: Option<String>,
    /// The IANA zone the rule is reckoned in; none is UTC.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// The first `due_at` of the task's series, which COUNT and UNTIL count
    /// from; set while the task has a recurrence.
    #[serde(default)]
    pub series_start: Option<DateTimeUtc>,
    /// The occurrence completing this task created (a marker, not a foreign
    /// key): completing it again after reopening creates no other.
    #[serde(default)]
    pub next_occurrence_id: Option<Uuid>,
    /// When the owner wants to be reminded of the task.
    #[serde(default)]
    pub remind_at: Option<DateTimeUtc>,
    /// When the reminder for this `remind_at` fired (cleared whenever
    /// `remind_at` changes): set, it does not fire again.
    #[serde(default)]
    pub reminded_at: Option<DateTimeUtc>,
    /// Where the task stands among its siblings (same owner and parent): a
    /// fractional key, lower-case hex, compared byte by byte. Default: the
    /// event log holds snapshots from before manual order.
    #[serde(default)]
    pub position: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "Entity",
        from = "Column::ParentId",
        to = "Column::Id",
        on_delete = "Cascade"
    )]
    Parent,
    #[sea_orm(has_many = "super::task_category::Entity")]
    TaskCategory,
}

impl Related<super::task_category::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TaskCategory.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
