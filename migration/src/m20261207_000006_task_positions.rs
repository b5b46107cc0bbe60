//! Manual order: each task's `position`, a fractional key that sorts it
//! among its siblings (the owner's tasks with the same parent; no parent is
//! the top level). Keys are lower-case hex, compared byte by byte: on
//! PostgreSQL the column is `COLLATE "C"`, so that no locale reorders them,
//! and SQLite compares text bytewise (BINARY) anyway.
//!
//! Existing rows are numbered per sibling list in (created_at, id) order
//! and get evenly spaced keys: `81`, then `256 n` in four base-255 digits
//! written as the bytes 0x01 to 0xff (never 0x00), then `80` (the key's
//! terminator). That leaves room for eight halvings between neighbours
//! before a key grows; the api compacts a list the same way
//! (`api/src/service/tasks/positions/keys.rs`, `spaced`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Tasks {
    Table,
    OwnerId,
    ParentId,
    Position,
    Id,
}

const OWNER_PARENT_POSITION: &str = "idx_tasks_owner_parent_position";
const OWNER_TOP_LEVEL_POSITION: &str = "idx_tasks_owner_top_level_position";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let db = manager.get_connection();
        match backend {
            DbBackend::Postgres => {
                // Nullable until every row has its key.
                db.execute_unprepared(r#"ALTER TABLE tasks ADD COLUMN position text COLLATE "C""#)
                    .await?;
                db.execute_unprepared(
                    "UPDATE tasks SET position = '81' \
                       || lpad(to_hex(1 + (n.rn * 256 / 16581375) % 255), 2, '0') \
                       || lpad(to_hex(1 + (n.rn * 256 / 65025) % 255), 2, '0') \
                       || lpad(to_hex(1 + (n.rn * 256 / 255) % 255), 2, '0') \
                       || lpad(to_hex(1 + (n.rn * 256) % 255), 2, '0') || '80' \
                     FROM (SELECT id, ROW_NUMBER() OVER \
                       (PARTITION BY owner_id, parent_id ORDER BY created_at, id) AS rn \
                       FROM tasks) AS n \
                     WHERE tasks.id = n.id",
                )
                .await?;
                db.execute_unprepared("ALTER TABLE tasks ALTER COLUMN position SET NOT NULL")
                    .await?;
            }
            _ => {
                // SQLite adds a NOT NULL column only with a default; every
                // row the api writes names its key.
                manager
                    .alter_table(
                        Table::alter()
                            .table(Tasks::Table)
                            .add_column(
                                ColumnDef::new(Tasks::Position)
                                    .text()
                                    .not_null()
                                    .default(""),
                            )
                            .to_owned(),
                    )
                    .await?;
                db.execute_unprepared(
                    "UPDATE tasks SET position = printf('81%02x%02x%02x%02x80', \
                       1 + (n.rn * 256 / 16581375) % 255, 1 + (n.rn * 256 / 65025) % 255, \
                       1 + (n.rn * 256 / 255) % 255, 1 + (n.rn * 256) % 255) \
                     FROM (SELECT id, ROW_NUMBER() OVER \
                       (PARTITION BY owner_id, parent_id ORDER BY created_at, id) AS rn \
                       FROM tasks) AS n \
                     WHERE tasks.id = n.id",
                )
                .await?;
            }
        }
        manager
            .create_index(
                Index::create()
                    .name(OWNER_PARENT_POSITION)
                    .table(Tasks::Table)
                    .col(Tasks::OwnerId)
                    .col(Tasks::ParentId)
                    .col(Tasks::Position)
                    .col(Tasks::Id)
                    .to_owned(),
            )
            .await?;
        // The top-level list is `parent_id IS NULL`, which PostgreSQL does not
        // take for an equality: the index above would be filtered and sorted
        // (every top-level task read to find the last), this one is walked.
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "CREATE INDEX {OWNER_TOP_LEVEL_POSITION} ON tasks (owner_id, position, id) \
                 WHERE parent_id IS NULL"
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(&format!("DROP INDEX IF EXISTS {OWNER_TOP_LEVEL_POSITION}"))
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(OWNER_PARENT_POSITION)
                    .table(Tasks::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tasks::Table)
                    .drop_column(Tasks::Position)
                    .to_owned(),
            )
            .await
    }
}
