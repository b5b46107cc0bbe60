use sea_orm::entity::prelude::*;

/// One committed change of a task; the log's order is `position`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "task_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub task_id: Uuid,
    /// The task's owner: subscribers only hear of their own tasks.
    pub owner_id: String,
    pub kind: EventKind,
    /// The task's version after the change (for a deletion: one past its last).
    pub version: i32,
    pub occurred_at: DateTimeUtc,
    /// The task as committed, as JSON; `None` for deletions.
    pub snapshot: Option<String>,
    /// Its place in the log, given after it committed (see the migration
    /// `m20261207_000001_event_positions`); null until then.
    pub position: Option<i64>,
    /// For a fired reminder: whether it fired later than it should have
    /// (it came due while no replica ran); null for other kinds.
    pub late: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "i16", db_type = "SmallInteger")]
pub enum EventKind {
    #[sea_orm(num_value = 1)]
    Created,
    #[sea_orm(num_value = 2)]
    Updated,
    #[sea_orm(num_value = 3)]
    Deleted,
    /// A task's reminder came due (the task itself did not change).
    #[sea_orm(num_value = 4)]
    ReminderDue,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
