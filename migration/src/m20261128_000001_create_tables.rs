use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Tasks {
    Table,
    Id,
    Description,
    Priority,
    StartAt,
    DueAt,
    Done,
    CompletedAt,
    CreatedAt,
    UpdatedAt,
    Version,
    ParentId,
}

#[derive(DeriveIden)]
enum Categories {
    Table,
    Id,
    Name,
    NameKey,
    CreatedAt,
}

#[derive(DeriveIden)]
enum TaskCategories {
    Table,
    TaskId,
    CategoryId,
}

/// Every index ends in `id`: list orders break ties by id, so keyset pages walk
/// the index without a sort.
const TASK_INDEXES: &[(&str, Tasks)] = &[
    ("idx_tasks_created_at", Tasks::CreatedAt),
    ("idx_tasks_updated_at", Tasks::UpdatedAt),
    ("idx_tasks_due_at", Tasks::DueAt),
    ("idx_tasks_priority", Tasks::Priority),
    ("idx_tasks_description", Tasks::Description),
    ("idx_tasks_parent_id", Tasks::ParentId),
    ("idx_tasks_done", Tasks::Done),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tasks::Table)
                    .col(ColumnDef::new(Tasks::Id).uuid().not_null().primary_key())
                    .col(
                        ColumnDef::new(Tasks::Description)
                            .string_len(1000)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Tasks::Priority)
                            .small_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(Tasks::StartAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Tasks::DueAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Tasks::Done)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(Tasks::CompletedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Tasks::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Tasks::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Tasks::Version)
                            .integer()
                            .not_null()
                            .default(1),
                    )
                    .col(ColumnDef::new(Tasks::ParentId).uuid().null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_tasks_parent")
                            .from(Tasks::Table, Tasks::ParentId)
                            .to(Tasks::Table, Tasks::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        for (name, column) in TASK_INDEXES {
            manager
                .create_index(
                    Index::create()
                        .name(*name)
                        .table(Tasks::Table)
                        .col(*column)
                        .col(Tasks::Id)
                        .to_owned(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Categories::Table)
                    .col(
                        ColumnDef::new(Categories::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Categories::Name).string_len(64).not_null())
                    .col(
                        ColumnDef::new(Categories::NameKey)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Categories::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
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
            .create_table(
                Table::create()
                    .table(TaskCategories::Table)
                    .col(ColumnDef::new(TaskCategories::TaskId).uuid().not_null())
                    .col(ColumnDef::new(TaskCategories::CategoryId).uuid().not_null())
                    .primary_key(
                        Index::create()
                            .col(TaskCategories::TaskId)
                            .col(TaskCategories::CategoryId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_task_categories_task")
                            .from(TaskCategories::Table, TaskCategories::TaskId)
                            .to(Tasks::Table, Tasks::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_task_categories_category")
                            .from(TaskCategories::Table, TaskCategories::CategoryId)
                            .to(Categories::Table, Categories::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_task_categories_category")
                    .table(TaskCategories::Table)
                    .col(TaskCategories::CategoryId)
                    .col(TaskCategories::TaskId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TaskCategories::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Categories::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Tasks::Table).to_owned())
            .await
    }
}
