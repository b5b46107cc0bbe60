//! How far each event sink (a broker or webhook the relay publishes to) has
//! got in the event log, and who may publish to it: one row per sink.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum EventSinks {
    Table,
    Name,
    DeliveredThrough,
    DeliveredAt,
    SeenAt,
    Epoch,
    StoppedAt,
    StoppedReason,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(EventSinks::Table)
                    .col(
                        ColumnDef::new(EventSinks::Name)
                            .text()
                            .not_null()
                            .primary_key(),
                    )
                    // Every event up to this position was acknowledged.
                    .col(
                        ColumnDef::new(EventSinks::DeliveredThrough)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(EventSinks::DeliveredAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    // A replica configured with the sink was running then:
                    // retention keeps what the sink has not had.
                    .col(
                        ColumnDef::new(EventSinks::SeenAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    // Grows with every publisher that takes over: a
                    // publisher whose lease passed on cannot move the
                    // position any more (a fencing token).
                    .col(
                        ColumnDef::new(EventSinks::Epoch)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    // The receiver said it is gone for good (a webhook's 410).
                    .col(
                        ColumnDef::new(EventSinks::StoppedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(EventSinks::StoppedReason).text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(EventSinks::Table).to_owned())
            .await
    }
}
