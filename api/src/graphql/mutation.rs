use async_graphql::{
    Context, ID, InputObject, MaybeUndefined, MergedObject, Object, Result, SimpleObject,
};

use super::context::scope;
use super::ids::{self, NodeKind};
use super::inputs::{clearable, not_null};
use super::objects::{Category, Priority, Task};
use super::scalars::DateTime;
use crate::service::categories as category_service;
use crate::service::tasks::{self as task_service, NewTask, TaskPatch};

#[derive(MergedObject, Default)]
pub struct Mutation(TaskMutation, CategoryMutation);

#[derive(InputObject)]
pub(crate) struct CreateTaskInput {
    pub(crate) client_mutation_id: Option<String>,
    /// 1 to 1000 characters after trimming.
    pub(crate) description: String,
    pub(crate) priority: Option<Priority>,
    pub(crate) start_at: Option<DateTime>,
    pub(crate) due_at: Option<DateTime>,
    pub(crate) parent_id: Option<ID>,
    pub(crate) category_ids: Option<Vec<ID>>,
    /// An RFC 5545 RRULE value such as `FREQ=WEEKLY;BYDAY=MO` (no DTSTART:
    /// the series starts at `dueAt`, which it needs; UNTIL in UTC, ending
    /// in `Z`). Completing the task creates its next occurrence.
    pub(crate) recurrence: Option<String>,
    /// The IANA zone the recurrence is reckoned in (`Europe/Berlin`), so
    /// occurrences keep their local time across DST changes. Default `UTC`.
    pub(crate) time_zone: Option<String>,
    /// When to remind the owner: a `REMINDER_DUE` event then goes to their
    /// subscriptions and the event sinks, once (not for a done task).
    pub(crate) remind_at: Option<DateTime>,
    /// Place the task right before this sibling (a task with the same
    /// parent) in the owner's order (`POSITION`). At most one of `before`
    /// and `after`; neither: the end of its list.
    pub(crate) before: Option<ID>,
    /// Place the task right after this sibling.
    pub(crate) after: Option<ID>,
}

#[derive(SimpleObject)]
pub(crate) struct CreateTaskPayload {
    pub(crate) client_mutation_id: Option<String>,
    pub(crate) task: Task,
}

/// Omitted fields stay as they are; an explicit null clears an optional field.
#[derive(InputObject)]
pub(crate) struct UpdateTaskInput {
    pub(crate) client_mutation_id: Option<String>,
    pub(crate) id: ID,
    /// Apply only if the task is still at this version (else CONFLICT).
    pub(crate) expected_version: Option<i32>,
    pub(crate) description: MaybeUndefined<String>,
    pub(crate) priority: MaybeUndefined<Priority>,
    pub(crate) start_at: MaybeUndefined<DateTime>,
    pub(crate) due_at: MaybeUndefined<DateTime>,
    pub(crate) done: MaybeUndefined<bool>,
    /// Null makes the task top-level.
    pub(crate) parent_id: MaybeUndefined<ID>,
    /// Null makes the task one-off. A new rule, zone or due date starts a
    /// new series (COUNT and UNTIL count from the due date).
    pub(crate) recurrence: MaybeUndefined<String>,
    /// Null: back to `UTC`.
    pub(crate) time_zone: MaybeUndefined<String>,
    /// Null: no reminder. A new time fires again, even if the old one
    /// already fired.
    pub(crate) remind_at: MaybeUndefined<DateTime>,
}

#[derive(SimpleObject)]
pub(crate) struct UpdateTaskPayload {
    pub(crate) client_mutation_id: Option<String>,
    pub(crate) task: Task,
    /// The next occurrence this update created by completing a recurring
    /// task; null when it created none.
    pub(crate) next_occurrence: Option<Task>,
}

/// Where a task goes in the owner's order (`POSITION`) among its siblings
/// (tasks with the same parent): at most one of `before` and `after`;
/// neither moves it to the end of its list.
#[derive(InputObject)]
pub(crate) struct MoveTaskInput {
    pub(crate) client_mutation_id: Option<String>,
    pub(crate) id: ID,
    /// Right before this sibling.
    pub(crate) before: Option<ID>,
    /// Right after this sibling.
    pub(crate) after: Option<ID>,
}

#[derive(SimpleObject)]
pub(crate) struct MoveTaskPayload {
    pub(crate) client_mutation_id: Option<String>,
    pub(crate) task: Task,
}

#[derive(InputObject)]
pub(crate) struct DeleteTaskInput {
    pub(crate) client_mutation_id: Option<String>,
    pub(crate) id: ID,
}

#[derive(SimpleObject)]
pub(crate) struct DeleteTaskPayload {
    pub(crate) client_mutation_id: Option<String>,
    /// The task and all its sub-tasks.
    pub(crate) deleted_task_ids: Vec<ID>,
}

#[derive(InputObject)]
pub(crate) struct SetTasksDoneInput {
    pub(crate) client_mutation_id: Option<String>,
    pub(crate) ids: Vec<ID>,
    pub(crate) done: bool,
}

#[derive(SimpleObject)]
pub(crate) struct SetTasksDonePayload {
    pub(crate) client_mutation_id: Option<String>,
    pub(crate) tasks: Vec<Task>,
    /// The next occurrences of the recurring tasks this call completed, in
    /// the order of `ids`.
    pub(crate) next_occurrences: Vec<Task>,
}

#[derive(InputObject, Default)]
pub(crate) struct DeleteCompletedTasksInput {
    pub(crate) client_mutation_id: Option<String>,
}

#[derive(SimpleObject)]
pub(crate) struct DeleteCompletedTasksPayload {
    pub(crate) client_mutation_id: Option<String>,
    pub(crate) deleted_task_ids: Vec<ID>,
}

#[derive(InputObject)]
pub(crate) struct AddTaskCategoriesInput {
    pub(crate) client_mutation_id: Option<String>,
    pub(crate) task_id: ID,
    pub(crate) category_ids: Vec<ID>,
}

#[derive(InputObject)]
pub(crate) struct RemoveTaskCategoriesInput {
    pub(crate) client_mutation_id: Option<String>,
    pub(crate) task_id: ID,
    pub(crate) category_ids: Vec<ID>,
}

#[derive(SimpleObject)]
pub(crate) struct AddTaskCategoriesPayload {
    pub(crate) client_mutation_id: Option<String>,
    pub(crate) task: Task,
}

#[derive(SimpleObject)]
pub(crate) struct RemoveTaskCategoriesPayload {
    pub(crate) client_mutation_id: Option<String>,
    pub(crate) task: Task,
}

fn decode_task(id: Option<ID>, field: &str) -> Result<Option<sea_orm::prelude::Uuid>> {
    Ok(id
        .map(|id| ids::decode(&id, NodeKind::Task, field))
        .transpose()?)
}

fn task_ids(ids: Vec<sea_orm::prelude::Uuid>) -> Vec<ID> {
    ids.into_iter()
        .map(|id| ids::encode(NodeKind::Task, id))
        .collect()
}

#[derive(Default)]
pub(crate) struct TaskMutation;

#[Object]
impl TaskMutation {
    async fn create_task(
        &self,
        ctx: &Context<'_>,
        input: CreateTaskInput,
    ) -> Result<CreateTaskPayload> {
        let scope = scope(ctx)?;
        let new = NewTask {
            description: input.description,
            priority: input.priority.map(Into::into),
            start_at: input.start_at.map(Into::into),
            due_at: input.due_at.map(Into::into),
            parent_id: input
                .parent_id
                .map(|id| ids::decode(&id, NodeKind::Task, "parentId"))
                .transpose()?,
            category_ids: ids::decode_all(
                &input.category_ids.unwrap_or_default(),
                NodeKind::Category,
                "categoryIds",
            )?,
            recurrence: input.recurrence,
            time_zone: input.time_zone,
            remind_at: input.remind_at.map(Into::into),
            before: decode_task(input.before, "before")?,
            after: decode_task(input.after, "after")?,
        };
        let task = task_service::create(&scope, new).await?;
        Ok(CreateTaskPayload {
            client_mutation_id: input.client_mutation_id,
            task: Task(task),
        })
    }

    async fn update_task(
        &self,
        ctx: &Context<'_>,
        input: UpdateTaskInput,
    ) -> Result<UpdateTaskPayload> {
        let scope = scope(ctx)?;
        let id = ids::decode(&input.id, NodeKind::Task, "id")?;
        let patch = TaskPatch {
            expected_version: input.expected_version,
            description: not_null(input.description, "description")?,
            priority: not_null(input.priority, "priority")?.map(Into::into),
            start_at: clearable(input.start_at).map(|t| t.map(Into::into)),
            due_at: clearable(input.due_at).map(|t| t.map(Into::into)),
            done: not_null(input.done, "done")?,
            parent_id: clearable(input.parent_id)
                .map(|p| {
                    p.map(|id| ids::decode(&id, NodeKind::Task, "parentId"))
                        .transpose()
                })
                .transpose()?,
            recurrence: clearable(input.recurrence),
            time_zone: clearable(input.time_zone),
            remind_at: clearable(input.remind_at).map(|t| t.map(Into::into)),
        };
        let updated = task_service::update(&scope, id, patch).await?;
        Ok(UpdateTaskPayload {
            client_mutation_id: input.client_mutation_id,
            task: Task(updated.task),
            next_occurrence: updated.next_occurrence.map(Task),
        })
    }

    /// Places a task right before or right after a sibling in the owner's
    /// order (`POSITION`); changes that task only.
    async fn move_task(&self, ctx: &Context<'_>, input: MoveTaskInput) -> Result<MoveTaskPayload> {
        let scope = scope(ctx)?;
        let id = ids::decode(&input.id, NodeKind::Task, "id")?;
        let before = decode_task(input.before, "before")?;
        let after = decode_task(input.after, "after")?;
        let task = task_service::move_task(&scope, id, before, after).await?;
        Ok(MoveTaskPayload {
            client_mutation_id: input.client_mutation_id,
            task: Task(task),
        })
    }

    /// Deletes the task and all its sub-tasks.
    async fn delete_task(
        &self,
        ctx: &Context<'_>,
        input: DeleteTaskInput,
    ) -> Result<DeleteTaskPayload> {
        let scope = scope(ctx)?;
        let id = ids::decode(&input.id, NodeKind::Task, "id")?;
        let deleted = task_service::delete(&scope, id).await?;
        Ok(DeleteTaskPayload {
            client_mutation_id: input.client_mutation_id,
            deleted_task_ids: task_ids(deleted),
        })
    }

    /// Marks several tasks done (or not done): all of them or, on error, none.
    async fn set_tasks_done(
        &self,
        ctx: &Context<'_>,
        input: SetTasksDoneInput,
    ) -> Result<SetTasksDonePayload> {
        let scope = scope(ctx)?;
        let ids = ids::decode_all(&input.ids, NodeKind::Task, "ids")?;
        let marked = task_service::set_done(&scope, ids, input.done).await?;
        Ok(SetTasksDonePayload {
            client_mutation_id: input.client_mutation_id,
            tasks: marked.tasks.into_iter().map(Task).collect(),
            next_occurrences: marked.next_occurrences.into_iter().map(Task).collect(),
        })
    }

    /// Deletes every done task, with its sub-tasks.
    async fn delete_completed_tasks(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] input: DeleteCompletedTasksInput,
    ) -> Result<DeleteCompletedTasksPayload> {
        let scope = scope(ctx)?;
        let deleted = task_service::delete_completed(&scope).await?;
        Ok(DeleteCompletedTasksPayload {
            client_mutation_id: input.client_mutation_id,
            deleted_task_ids: task_ids(deleted),
        })
    }

    async fn add_task_categories(
        &self,
        ctx: &Context<'_>,
        input: AddTaskCategoriesInput,
    ) -> Result<AddTaskCategoriesPayload> {
        let task = change_categories(ctx, &input.task_id, &input.category_ids, true).await?;
        Ok(AddTaskCategoriesPayload {
            client_mutation_id: input.client_mutation_id,
            task,
        })
    }

    async fn remove_task_categories(
        &self,
        ctx: &Context<'_>,
        input: RemoveTaskCategoriesInput,
    ) -> Result<RemoveTaskCategoriesPayload> {
        let task = change_categories(ctx, &input.task_id, &input.category_ids, false).await?;
        Ok(RemoveTaskCategoriesPayload {
            client_mutation_id: input.client_mutation_id,
            task,
        })
    }
}

async fn change_categories(
    ctx: &Context<'_>,
    task_id: &ID,
    category_ids: &[ID],
    add: bool,
) -> Result<Task> {
    let scope = scope(ctx)?;
    let task_id = ids::decode(task_id, NodeKind::Task, "taskId")?;
    let categories = ids::decode_all(category_ids, NodeKind::Category, "categoryIds")?;
    let task = task_service::change_categories(&scope, task_id, categories, add).await?;
    Ok(Task(task))
}

#[derive(InputObject)]
pub(crate) struct CreateCategoryInput {
    pub(crate) client_mutation_id: Option<String>,
    /// 1 to 64 characters after trimming; unique regardless of case.
    pub(crate) name: String,
}

#[derive(SimpleObject)]
pub(crate) struct CreateCategoryPayload {
    pub(crate) client_mutation_id: Option<String>,
    pub(crate) category: Category,
}

#[derive(SimpleObject)]
pub(crate) struct RenameCategoryPayload {
    pub(crate) client_mutation_id: Option<String>,
    pub(crate) category: Category,
}

#[derive(InputObject)]
pub(crate) struct RenameCategoryInput {
    pub(crate) client_mutation_id: Option<String>,
    pub(crate) id: ID,
    pub(crate) name: String,
}

#[derive(InputObject)]
pub(crate) struct DeleteCategoryInput {
    pub(crate) client_mutation_id: Option<String>,
    pub(crate) id: ID,
}

#[derive(SimpleObject)]
pub(crate) struct DeleteCategoryPayload {
    pub(crate) client_mutation_id: Option<String>,
    pub(crate) deleted_category_id: ID,
}

#[derive(Default)]
pub(crate) struct CategoryMutation;

#[Object]
impl CategoryMutation {
    async fn create_category(
        &self,
        ctx: &Context<'_>,
        input: CreateCategoryInput,
    ) -> Result<CreateCategoryPayload> {
        let category = category_service::create(&scope(ctx)?, &input.name).await?;
        Ok(CreateCategoryPayload {
            client_mutation_id: input.client_mutation_id,
            category: Category(category),
        })
    }

    async fn rename_category(
        &self,
        ctx: &Context<'_>,
        input: RenameCategoryInput,
    ) -> Result<RenameCategoryPayload> {
        let id = ids::decode(&input.id, NodeKind::Category, "id")?;
        let category = category_service::rename(&scope(ctx)?, id, &input.name).await?;
        Ok(RenameCategoryPayload {
            client_mutation_id: input.client_mutation_id,
            category: Category(category),
        })
    }

    /// Deletes a category; tasks lose the link and stay.
    async fn delete_category(
        &self,
        ctx: &Context<'_>,
        input: DeleteCategoryInput,
    ) -> Result<DeleteCategoryPayload> {
        let id = ids::decode(&input.id, NodeKind::Category, "id")?;
        let deleted = category_service::delete(&scope(ctx)?, id).await?;
        Ok(DeleteCategoryPayload {
            client_mutation_id: input.client_mutation_id,
            deleted_category_id: ids::encode(NodeKind::Category, deleted),
        })
    }
}
