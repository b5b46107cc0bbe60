//! An event's place in the log moves out of the event into a narrow table
//! of its own, so that numbering an event appends a row instead of
//! rewriting one.
//!
//! Until now the sequencer gave a committed event its position with an
//! UPDATE of the event row: a second full version of the row (its task
//! snapshot included) with an entry in every index, and a dead version
//! left behind until vacuum, which slowed the sequencer's own look for
//! unnumbered events under heavy writes. Now:
//!
//! - `task_event_positions (position, event_id, owner_id)` holds the order.
//!   Its index on `(owner_id, position)` finds one owner's events in log
//!   order, as the one on `task_events` did.
//! - On PostgreSQL a writer also appends its events' ids to
//!   `task_events_pending`, in the same statement as the events. The
//!   sequencer takes the committed ones from there, in id order, and appends
//!   their positions. Only this short, narrow queue sees deletes.
//! - On SQLite a write still numbers its own events (position = id) before
//!   it commits, now by appending positions. It needs no queue.
//!
//! Positions stay the same numbers, so every cursor given out before still
//! replays exactly what followed it. The column goes away rather than stay
//! unused: a replica still running the code before this migration then
//! fails its writes loudly, instead of logging events nobody would ever
//! number.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TaskEventPositions {
    Table,
    Position,
    EventId,
    OwnerId,
}

#[derive(DeriveIden)]
enum TaskEventsPending {
    Table,
    EventId,
}

const OWNER_INDEX: &str = "idx_task_event_positions_owner_position";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let postgres = manager.get_database_backend() == DbBackend::Postgres;
        let db = manager.get_connection();
        manager
            .create_table(
                Table::create()
                    .table(TaskEventPositions::Table)
                    .col(
                        ColumnDef::new(TaskEventPositions::Position)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(TaskEventPositions::EventId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(TaskEventPositions::OwnerId)
                            .string_len(255)
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        db.execute_unprepared(
            "INSERT INTO task_event_positions (position, event_id, owner_id) \
             SELECT position, id, owner_id FROM task_events WHERE position IS NOT NULL",
        )
        .await?;
        db.execute_unprepared(&format!(
            "CREATE INDEX {OWNER_INDEX} ON task_event_positions (owner_id, position)"
        ))
        .await?;
        if postgres {
            manager
                .create_table(
                    Table::create()
                        .table(TaskEventsPending::Table)
                        .col(
                            ColumnDef::new(TaskEventsPending::EventId)
                                .big_integer()
                                .not_null()
                                .primary_key(),
                        )
                        .to_owned(),
                )
                .await?;
            db.execute_unprepared(
                "INSERT INTO task_events_pending (event_id) \
                 SELECT id FROM task_events WHERE position IS NULL",
            )
            .await?;
            // As on the events: an owner sees its own positions, the log's
            // readers and the sequencer (naming every owner) all of them.
            // The queue holds ids only and stays outside the policies.
            db.execute_unprepared(
                "CREATE POLICY owner_isolation ON task_event_positions \
                 USING (owner_id = current_setting('app.owner_id', true)) \
                 WITH CHECK (owner_id = current_setting('app.owner_id', true))",
            )
            .await?;
            db.execute_unprepared(
                "CREATE POLICY every_owner ON task_event_positions \
                 USING (current_setting('app.owner_id', true) = '*') \
                 WITH CHECK (current_setting('app.owner_id', true) = '*')",
            )
            .await?;
        }
        for index in [
            "idx_task_events_owner_position",
            "idx_task_events_unpositioned",
            "idx_task_events_position",
        ] {
            db.execute_unprepared(&format!("DROP INDEX {index}"))
                .await?;
        }
        db.execute_unprepared("ALTER TABLE task_events DROP COLUMN position")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("ALTER TABLE task_events ADD COLUMN position BIGINT")
            .await?;
        // Events still queued stay null: the code before this migration
        // numbers exactly those.
        db.execute_unprepared(
            "UPDATE task_events SET position = \
             (SELECT p.position FROM task_event_positions p WHERE p.event_id = task_events.id)",
        )
        .await?;
        for index in [
            "CREATE UNIQUE INDEX idx_task_events_position ON task_events (position)",
            "CREATE INDEX idx_task_events_unpositioned ON task_events (id) \
             WHERE position IS NULL",
            "CREATE INDEX idx_task_events_owner_position ON task_events (owner_id, position)",
        ] {
            db.execute_unprepared(index).await?;
        }
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .drop_table(Table::drop().table(TaskEventsPending::Table).to_owned())
                .await?;
        }
        manager
            .drop_table(Table::drop().table(TaskEventPositions::Table).to_owned())
            .await?;
        Ok(())
    }
}
