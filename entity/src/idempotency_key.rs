use sea_orm::entity::prelude::*;

/// A request that claimed an `Idempotency-Key`, and its response once it
/// ran (see the migration `m20261207_000002_idempotency_keys`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub owner_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// sha256 of the request body, in hex.
    pub request_hash: String,
    /// Names the request that holds the key (a takeover replaces it).
    pub claim: Uuid,
    pub created_at: DateTimeUtc,
    pub claimed_at: DateTimeUtc,
    /// Null while the claimer runs.
    pub response_status: Option<i32>,
    pub response_content_type: Option<String>,
    pub response_body: Option<String>,
    pub completed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
