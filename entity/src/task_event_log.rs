use sea_orm::entity::prelude::*;

/// The event log's single bookkeeping row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "task_event_log")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i16,
    /// Retention has deleted every event up to this position: a cursor
    /// before it has expired.
    pub pruned_through: i64,
    /// The last position the sequencer handed out (PostgreSQL).
    pub positioned_through: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
