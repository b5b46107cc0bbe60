//! Reminders: the instant a task's owner wants to be reminded of it
//! (`remind_at`), when its reminder fired for that instant (`reminded_at`,
//! cleared whenever `remind_at` changes), and whether the event of a fired
//! reminder came late (`task_events.late`). A partial index holds only the
//! reminders still to fire, so the scheduler's poll stays one short index
//! range however many tasks there are. On PostgreSQL, the scheduler reads
//! every owner's due reminders, as the event log's reader does: a policy
//! lets a transaction naming every owner (`*`, never a token's subject) do
//! that under row-level security.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Tasks {
    Table,
    RemindAt,
    RemindedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum TaskEvents {
    Table,
    Late,
}

/// The pending reminders; the scheduler's statement repeats this predicate
/// word for word (SQLite uses a partial index only then).
pub const PENDING: &str = "remind_at IS NOT NULL AND reminded_at IS NULL AND NOT done";
const INDEX: &str = "idx_tasks_pending_reminders";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let columns = [
            (
                Tasks::Table.into_iden(),
                ColumnDef::new(Tasks::RemindAt)
                    .timestamp_with_time_zone()
                    .null()
                    .to_owned(),
            ),
            (
                Tasks::Table.into_iden(),
                ColumnDef::new(Tasks::RemindedAt)
                    .timestamp_with_time_zone()
                    .null()
                    .to_owned(),
            ),
            (
                TaskEvents::Table.into_iden(),
                ColumnDef::new(TaskEvents::Late).boolean().null().to_owned(),
            ),
        ];
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for (table, mut column) in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        let db = manager.get_connection();
        db.execute_unprepared(&format!(
            "CREATE INDEX {INDEX} ON tasks (remind_at) WHERE {PENDING}"
        ))
        .await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(
                "CREATE POLICY every_owner_reminders ON tasks \
                 USING (current_setting('app.owner_id', true) = '*') \
                 WITH CHECK (current_setting('app.owner_id', true) = '*')",
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared("DROP POLICY IF EXISTS every_owner_reminders ON tasks")
                .await?;
        }
        db.execute_unprepared(&format!("DROP INDEX IF EXISTS {INDEX}"))
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(TaskEvents::Table)
                    .drop_column(TaskEvents::Late)
                    .to_owned(),
            )
            .await?;
        for column in [Tasks::RemindedAt, Tasks::RemindAt] {
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
