//! Schema migrations of the to-do service, for SQLite and PostgreSQL alike.
//!
//! Schema changes go through [`up_locked`] (or [`lock::with_lock`]), so that
//! any number of processes may start migrating the same database at once.

pub use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseConnection;

pub mod lock;
mod m20261128_000001_create_tables;
mod m20261201_000001_create_task_events;
mod m20261201_000002_add_owners;
mod m20261202_000001_list_indexes;
mod m20261202_000002_task_search;
mod m20261207_000001_event_positions;
mod m20261207_000002_idempotency_keys;
mod m20261207_000003_event_sinks;
mod m20261207_000004_event_owner_positions;
mod m20261207_000005_task_recurrence;
mod m20261207_000006_task_positions;
mod m20261207_000007_task_reminders;
pub mod owners;
pub mod search_language;

pub use m20261207_000007_task_reminders::PENDING as PENDING_REMINDERS;
pub use owners::{OWNED_TABLES, SINGLE_USER_OWNER};
pub use search_language::{SearchLanguage, with_search_language};

/// The database of the api and of the `migration` tool when `DATABASE_URL`
/// is unset: `todo.db` in the working directory, created if missing.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://todo.db?mode=rwc";

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_create_tables::Migration),
            Box::new(m20261201_000001_create_task_events::Migration),
            Box::new(m20261201_000002_add_owners::Migration),
            Box::new(m20261202_000001_list_indexes::Migration),
            Box::new(m20261202_000002_task_search::Migration),
            Box::new(m20261207_000001_event_positions::Migration),
            Box::new(m20261207_000002_idempotency_keys::Migration),
            Box::new(m20261207_000003_event_sinks::Migration),
            Box::new(m20261207_000004_event_owner_positions::Migration),
            Box::new(m20261207_000005_task_recurrence::Migration),
            Box::new(m20261207_000006_task_positions::Migration),
            Box::new(m20261207_000007_task_reminders::Migration),
        ]
    }
}

/// Applies the pending migrations (at most `steps` of them) under the
/// migration lock, and returns how many this call applied: 0 when the schema
/// was current, or became current while this process waited for another.
pub async fn up_locked(db: &DatabaseConnection, steps: Option<u32>) -> Result<usize, DbErr> {
    // A current schema (the usual start of a replica) takes no lock.
    if Migrator::get_pending_migrations_read_only(db)
        .await?
        .is_empty()
    {
        return Ok(0);
    }
    lock::with_lock(db, async |db| {
        // Read again under the lock: what another process applied meanwhile
        // is not pending any more.
        let pending = Migrator::get_pending_migrations(db).await?.len();
        let applying = steps.map_or(pending, |steps| pending.min(steps as usize));
        if applying == 0 {
            tracing::info!("another process applied the pending migrations");
            return Ok(0);
        }
        tracing::info!(pending, applying, "applying database migrations");
        Migrator::up(db, steps).await?;
        Ok(applying)
    })
    .await
}
