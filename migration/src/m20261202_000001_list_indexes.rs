//! Indexes for a million tasks.
//!
//! Lists need no new index: every order's keyset page is one range of an
//! (owner_id, field, id) index, DUE_AT's too (the api reads the dated and the
//! undated tasks as two ranges of (owner_id, due_at, id)).
//!
//! What did not hold is the foreign key from a sub-task to its parent:
//! deleting a task makes both engines look for its children by `parent_id`
//! alone, and so does SQLite for every update (the api's UPDATE sets every
//! column, the key too); since (owner_id, parent_id, id) replaced
//! (parent_id, id) no index starts with it. At a million tasks each such
//! write scanned the table (bench/RESULTS.md, "Scale: a million tasks", has
//! what that cost on each engine). (parent_id, owner_id) serves that
//! lookup, `parentId` lists and sub-task pages and counts (a parent's
//! children are its owner's), so it takes the old index's place. It holds
//! sub-tasks only: top-level tasks (most of them) cost it nothing to write,
//! and SQLite, whose statistics give every parent_id the same few rows,
//! cannot mistake `parent_id IS NULL` (`topLevel`) for a narrow range and
//! sort all the top-level tasks for a page.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Tasks {
    Table,
    Id,
    OwnerId,
    ParentId,
}

const OWNER_PARENT: &str = "idx_tasks_owner_parent_id";
const PARENT_OWNER: &str = "idx_tasks_parent_id_owner";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(PARENT_OWNER)
                    .table(Tasks::Table)
                    .col(Tasks::ParentId)
                    .col(Tasks::OwnerId)
                    .and_where(Expr::col(Tasks::ParentId).is_not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(OWNER_PARENT)
                    .table(Tasks::Table)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(OWNER_PARENT)
                    .table(Tasks::Table)
                    .col(Tasks::OwnerId)
                    .col(Tasks::ParentId)
                    .col(Tasks::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(PARENT_OWNER)
                    .table(Tasks::Table)
                    .to_owned(),
            )
            .await
    }
}
