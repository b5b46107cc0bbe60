//! The durable event log: one row per task change, written in the change's
//! own transaction, read by every replica in id order.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TaskEvents {
    Table,
    Id,
    TaskId,
    Kind,
    Version,
    OccurredAt,
    Snapshot,
}

/// One row: how far retention has deleted the log (cursors at or before it
/// have expired).
#[derive(DeriveIden)]
enum TaskEventLog {
    Table,
    Id,
    PrunedThrough,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Ids only grow (SQLite: AUTOINCREMENT, so an emptied table never
        // hands out an old id again; PostgreSQL: an identity sequence).
        manager
            .create_table(
                Table::create()
                    .table(TaskEvents::Table)
                    .col(
                        ColumnDef::new(TaskEvents::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(TaskEvents::TaskId).uuid().not_null())
                    .col(ColumnDef::new(TaskEvents::Kind).small_integer().not_null())
                    .col(ColumnDef::new(TaskEvents::Version).integer().not_null())
                    .col(
                        ColumnDef::new(TaskEvents::OccurredAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    // The task as committed (JSON); null for deletions.
                    .col(ColumnDef::new(TaskEvents::Snapshot).text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TaskEventLog::Table)
                    .col(
                        ColumnDef::new(TaskEventLog::Id)
                            .small_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(TaskEventLog::PrunedThrough)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(TaskEventLog::Table)
                    .columns([TaskEventLog::Id, TaskEventLog::PrunedThrough])
                    .values_panic([1.into(), 0.into()])
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TaskEventLog::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(TaskEvents::Table).to_owned())
            .await
    }
}
