use sea_orm::entity::prelude::*;

/// An event's place in the log, given once it committed (see the migration
/// `m20261207_000008_event_position_table`). Kept apart from the event so
/// that numbering only appends this narrow row and never rewrites the
/// event.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "task_event_positions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub position: i64,
    pub event_id: i64,
    /// The event's owner, so one owner's events are found in log order by
    /// an index of this table alone.
    pub owner_id: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::task_event::Entity",
        from = "Column::EventId",
        to = "super::task_event::Column::Id"
    )]
    Event,
}

impl Related<super::task_event::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Event.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
