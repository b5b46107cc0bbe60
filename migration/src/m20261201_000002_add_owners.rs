//! Every task, category, link and event belongs to an owner (the subject of
//! the caller's token; `default` in single-user mode, which existing rows
//! join). Indexes lead with the owner, since every list is one owner's;
//! category names are unique per owner. On PostgreSQL, row-level security
//! policies are created for `DB_ROW_LEVEL_SECURITY=true` (the api enables
//! them at start; see api/src/db.rs).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

use crate::owners::{OWNED_TABLES, SINGLE_USER_OWNER};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Tasks {
    Table,
    Id,
    OwnerId,
    CreatedAt,
    UpdatedAt,
    DueAt,
    Priority,
    Description,
    ParentId,
    Done,
}

#[derive(DeriveIden, Clone, Copy)]
enum Categories {
    Table,
    Id,
    OwnerId,
    NameKey,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum TaskCategories {
    Table,
    OwnerId,
}

#[derive(DeriveIden, Clone, Copy)]
enum TaskEvents {
    Table,
    OwnerId,
}

/// (old index, new index, columns after the owner): lists sort by these,
/// ties broken by id, inside one owner.
const TASK_INDEXES: [(&str, &str, Tasks); 7] = [
    (
        "idx_tasks_created_at",
        "idx_tasks_owner_created_at",
        Tasks::CreatedAt,
    ),
    (
        "idx_tasks_updated_at",
        "idx_tasks_owner_updated_at",
        Tasks::UpdatedAt,
    ),
    ("idx_tasks_due_at", "idx_tasks_owner_due_at", Tasks::DueAt),
    (
        "idx_tasks_priority",
        "idx_tasks_owner_priority",
        Tasks::Priority,
    ),
    (
        "idx_tasks_description",
        "idx_tasks_owner_description",
        Tasks::Description,
    ),
    (
        "idx_tasks_parent_id",
        "idx_tasks_owner_parent_id",
        Tasks::ParentId,
    ),
    ("idx_tasks_done", "idx_tasks_owner_done", Tasks::Done),
];

fn owner_column<T: IntoIden>(column: T) -> ColumnDef {
    ColumnDef::new(column)
        .string_len(255)
        .not_null()
        .default(SINGLE_USER_OWNER)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let postgres = manager.get_database_backend() == DbBackend::Postgres;
        manager
            .alter_table(
                Table::alter()
                    .table(Tasks::Table)
                    .add_column(owner_column(Tasks::OwnerId))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Categories::Table)
                    .add_column(owner_column(Categories::OwnerId))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(TaskCategories::Table)
                    .add_column(owner_column(TaskCategories::OwnerId))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(TaskEvents::Table)
                    .add_column(owner_column(TaskEvents::OwnerId))
                    .to_owned(),
            )
            .await?;
        if postgres {
            // Existing rows were given the single user's owner by the default;
            // from now on every write names its owner.
            for table in OWNED_TABLES {
                manager
                    .get_connection()
                    .execute_unprepared(&format!(
                        "ALTER TABLE {table} ALTER COLUMN owner_id DROP DEFAULT"
                    ))
                    .await?;
            }
        }

        for (old, new, column) in TASK_INDEXES {
            manager
                .drop_index(Index::drop().name(old).table(Tasks::Table).to_owned())
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name(new)
                        .table(Tasks::Table)
                        .col(Tasks::OwnerId)
                        .col(column)
                        .col(Tasks::Id)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name("uq_categories_name_key")
                    .table(Categories::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_categories_owner_name_key")
                    .table(Categories::Table)
                    .col(Categories::OwnerId)
                    .col(Categories::NameKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_categories_created_at")
                    .table(Categories::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_categories_owner_created_at")
                    .table(Categories::Table)
                    .col(Categories::OwnerId)
                    .col(Categories::CreatedAt)
                    .col(Categories::Id)
                    .to_owned(),
            )
            .await?;

        if postgres {
            let db = manager.get_connection();
            for table in OWNED_TABLES {
                // Applied only once row-level security is enabled on the table.
                db.execute_unprepared(&format!(
                    "CREATE POLICY owner_isolation ON {table} \
                     USING (owner_id = current_setting('app.owner_id', true)) \
                     WITH CHECK (owner_id = current_setting('app.owner_id', true))"
                ))
                .await?;
            }
            // The event log is read whole by every replica (and pruned): its
            // reader says so explicitly.
            db.execute_unprepared(
                "CREATE POLICY every_owner ON task_events \
                 USING (current_setting('app.owner_id', true) = '*') \
                 WITH CHECK (current_setting('app.owner_id', true) = '*')",
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let postgres = manager.get_database_backend() == DbBackend::Postgres;
        if postgres {
            let db = manager.get_connection();
            for table in OWNED_TABLES {
                db.execute_unprepared(&format!(
                    "ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY, \
                     DISABLE ROW LEVEL SECURITY"
                ))
                .await?;
                db.execute_unprepared(&format!("DROP POLICY IF EXISTS owner_isolation ON {table}"))
                    .await?;
            }
            db.execute_unprepared("DROP POLICY IF EXISTS every_owner ON task_events")
                .await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name("idx_categories_owner_created_at")
                    .table(Categories::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_categories_created_at")
                    .table(Categories::Table)
                    .col(Categories::CreatedAt)
                    .col(Categories::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("uq_categories_owner_name_key")
                    .table(Categories::Table)
                    .to_owned(),
            )
            .await?;
        // Names that were unique per owner may collide once owners are gone.
        manager
            .create_index(
                Index::create()
                    .name("uq_categories_name_key")
                    .table(Categories::Table)
                    .col(Categories::NameKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        for (old, new, column) in TASK_INDEXES {
            manager
                .drop_index(Index::drop().name(new).table(Tasks::Table).to_owned())
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name(old)
                        .table(Tasks::Table)
                        .col(column)
                        .col(Tasks::Id)
                        .to_owned(),
                )
                .await?;
        }
        for table in [
            Tasks::Table.into_iden(),
            Categories::Table.into_iden(),
            TaskCategories::Table.into_iden(),
            TaskEvents::Table.into_iden(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .drop_column(Alias::new("owner_id"))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
