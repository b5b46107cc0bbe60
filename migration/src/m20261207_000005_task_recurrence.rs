//! Recurring tasks: a task's RFC 5545 rule, the IANA zone its
//! occurrences are reckoned in, the first `due_at` of its series, from
//! which COUNT and UNTIL are counted, and the occurrence its completion
//! created (so completing it again creates no second one). All nullable: a
//! task without a rule is what every existing row is, and a missing zone
//! reads as UTC.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Tasks {
    Table,
    Recurrence,
    TimeZone,
    SeriesStart,
    NextOccurrenceId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        let columns = [
            ColumnDef::new(Tasks::Recurrence).text().null().to_owned(),
            ColumnDef::new(Tasks::TimeZone).string().null().to_owned(),
            ColumnDef::new(Tasks::SeriesStart)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
            ColumnDef::new(Tasks::NextOccurrenceId)
                .uuid()
                .null()
                .to_owned(),
        ];
        for mut column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Tasks::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Tasks::NextOccurrenceId,
            Tasks::SeriesStart,
            Tasks::TimeZone,
            Tasks::Recurrence,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Tasks::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
