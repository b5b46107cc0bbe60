use sea_orm::entity::prelude::*;

/// One sink of the event relay: how far it got in the log.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "event_sinks")]
pub struct Model {
    /// `nats`, `redis`, `amqp` or `webhook`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// Every event up to this position was acknowledged by the sink.
    pub delivered_through: i64,
    /// When the sink last acknowledged something.
    pub delivered_at: Option<DateTimeUtc>,
    /// When a replica configured with this sink last ran.
    pub seen_at: DateTimeUtc,
    /// The current publisher's fencing token.
    pub epoch: i64,
    /// Set when the receiver said it is gone (a webhook's 410).
    pub stopped_at: Option<DateTimeUtc>,
    pub stopped_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
