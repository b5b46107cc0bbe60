//! Events get their place in the log after they commit, not while they are
//! written.
//!
//! Until now the event id was the log order, so every PostgreSQL writer took
//! one advisory lock and held it through its commit: writers queued behind
//! each other's WAL flushes. Now a writer only inserts its events (no lock,
//! no NOTIFY), and one sequencer per database (api/src/events/sequencer.rs)
//! gives committed events a `position` in batches; readers follow positions.
//! `task_event_log.positioned_through` is the last position handed out.
//!
//! Existing events keep their id as their position, and numbering goes on
//! above every id ever handed out, so a cursor given out before this change
//! (it names an id) still replays exactly what followed it. On SQLite, whose
//! one connection serialises writers, a write still numbers its own events
//! (position = id) in its transaction.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // task_event_log before task_events, in both directions: the order
        // a running sequencer locks them in, so the two never deadlock.
        db.execute_unprepared(
            "ALTER TABLE task_event_log \
             ADD COLUMN positioned_through BIGINT NOT NULL DEFAULT 0",
        )
        .await?;
        db.execute_unprepared("ALTER TABLE task_events ADD COLUMN position BIGINT")
            .await?;
        db.execute_unprepared("UPDATE task_events SET position = id")
            .await?;
        db.execute_unprepared(
            "CREATE UNIQUE INDEX idx_task_events_position ON task_events (position)",
        )
        .await?;
        // What the sequencer reads: the few events not numbered yet.
        db.execute_unprepared(
            "CREATE INDEX idx_task_events_unpositioned ON task_events (id) \
             WHERE position IS NULL",
        )
        .await?;
        // Above every id ever handed out, pruned ones included.
        let highest_id = match manager.get_database_backend() {
            DbBackend::Postgres => {
                "GREATEST(COALESCE((SELECT MAX(id) FROM task_events), 0), pruned_through, \
                 COALESCE(pg_sequence_last_value(\
                 pg_get_serial_sequence('task_events', 'id')::regclass), 0))"
            }
            _ => {
                "MAX(COALESCE((SELECT MAX(id) FROM task_events), 0), pruned_through, \
                 COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'task_events'), 0))"
            }
        };
        db.execute_unprepared(&format!(
            "UPDATE task_event_log SET positioned_through = {highest_id}"
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("ALTER TABLE task_event_log DROP COLUMN positioned_through")
            .await?;
        // Events the sequencer had not numbered yet go back to id order,
        // which is all the older code reads.
        db.execute_unprepared("DROP INDEX idx_task_events_unpositioned")
            .await?;
        db.execute_unprepared("DROP INDEX idx_task_events_position")
            .await?;
        db.execute_unprepared("ALTER TABLE task_events DROP COLUMN position")
            .await?;
        Ok(())
    }
}
