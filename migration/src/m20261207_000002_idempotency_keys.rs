//! `Idempotency-Key` on POST /graphql: one row per (owner, key)
//! that a request claimed. The row is the lock across replicas: the first
//! request inserts it (`INSERT ... ON CONFLICT DO NOTHING`), runs, and
//! fills in its response; a repeat finds the row and replays the response
//! (or is told the first is still running). `claim` names the request that
//! holds the row: a takeover of a stale claim replaces it, so a claimer
//! that lost its claim cannot store over the new one.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    OwnerId,
    Key,
    RequestHash,
    Claim,
    CreatedAt,
    ClaimedAt,
    ResponseStatus,
    ResponseContentType,
    ResponseBody,
    CompletedAt,
}

const EXPIRY_INDEX: &str = "idx_idempotency_keys_created_at";
const OWNER_INDEX: &str = "idx_idempotency_keys_owner_created_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .col(ColumnDef::new(IdempotencyKeys::OwnerId).text().not_null())
                    .col(ColumnDef::new(IdempotencyKeys::Key).text().not_null())
                    // sha256 of the request body as received, in hex.
                    .col(
                        ColumnDef::new(IdempotencyKeys::RequestHash)
                            .text()
                            .not_null(),
                    )
                    .col(ColumnDef::new(IdempotencyKeys::Claim).uuid().not_null())
                    .col(
                        ColumnDef::new(IdempotencyKeys::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdempotencyKeys::ClaimedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    // Null while the claimer runs.
                    .col(
                        ColumnDef::new(IdempotencyKeys::ResponseStatus)
                            .integer()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(IdempotencyKeys::ResponseContentType)
                            .text()
                            .null(),
                    )
                    .col(ColumnDef::new(IdempotencyKeys::ResponseBody).text().null())
                    .col(
                        ColumnDef::new(IdempotencyKeys::CompletedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(IdempotencyKeys::OwnerId)
                            .col(IdempotencyKeys::Key),
                    )
                    .to_owned(),
            )
            .await?;
        // Expiry deletes the oldest rows; the cap per owner counts an
        // owner's newest.
        manager
            .create_index(
                Index::create()
                    .name(EXPIRY_INDEX)
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(OWNER_INDEX)
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::OwnerId)
                    .col(IdempotencyKeys::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IdempotencyKeys::Table).to_owned())
            .await
    }
}
