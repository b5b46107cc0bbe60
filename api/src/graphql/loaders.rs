//! DataLoaders: nested fields of a page of tasks cost one statement per field,
//! not one per row.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use entity::{category, task};
use sea_orm::{DatabaseConnection, prelude::Uuid};

use crate::error::AppError;
use crate::service::page::Page;
use crate::service::tasks::{self, Scope, TaskFilter, TaskListQuery};

pub type LoadError = Arc<AppError>;

/// Tasks by id (parents, `node`).
pub struct TaskById(pub DatabaseConnection);

impl Loader<Uuid> for TaskById {
    type Value = task::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, task::Model>, LoadError> {
        Ok(tasks::find_by_ids(&self.0, keys).await?)
    }
}

/// The categories of each task.
pub struct CategoriesOfTask(pub DatabaseConnection);

impl Loader<Uuid> for CategoriesOfTask {
    type Value = Vec<category::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Vec<category::Model>>, LoadError> {
        Ok(tasks::categories_of(&self.0, keys).await?)
    }
}

/// A page of a nested task list (`Task.subtasks`, `Category.tasks`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ScopedPageKey {
    pub scope: Scope,
    pub owner: Uuid,
    pub query: Arc<TaskListQuery>,
}

pub struct ScopedPages(pub DatabaseConnection);

impl Loader<ScopedPageKey> for ScopedPages {
    type Value = Page<task::Model>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[ScopedPageKey],
    ) -> Result<HashMap<ScopedPageKey, Page<task::Model>>, LoadError> {
        // Owners asking for the same list share one statement.
        let mut groups: HashMap<(Scope, &Arc<TaskListQuery>), Vec<Uuid>> = HashMap::new();
        for key in keys {
            groups
                .entry((key.scope, &key.query))
                .or_default()
                .push(key.owner);
        }
        let mut out = HashMap::with_capacity(keys.len());
        for ((scope, query), owners) in groups {
            let owners = unique(owners);
            for (owner, page) in tasks::list_scoped(&self.0, scope, &owners, query).await? {
                out.insert(
                    ScopedPageKey {
                        scope,
                        owner,
                        query: query.clone(),
                    },
                    page,
                );
            }
        }
        Ok(out)
    }
}

/// `totalCount` of a nested task list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ScopedCountKey {
    pub scope: Scope,
    pub owner: Uuid,
    pub filter: Arc<TaskFilter>,
}

pub struct ScopedCounts(pub DatabaseConnection);

impl Loader<ScopedCountKey> for ScopedCounts {
    type Value = u64;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[ScopedCountKey],
    ) -> Result<HashMap<ScopedCountKey, u64>, LoadError> {
        let mut groups: HashMap<(Scope, &Arc<TaskFilter>), Vec<Uuid>> = HashMap::new();
        for key in keys {
            groups
                .entry((key.scope, &key.filter))
                .or_default()
                .push(key.owner);
        }
        let mut out = HashMap::with_capacity(keys.len());
        for ((scope, filter), owners) in groups {
            let owners = unique(owners);
            for (owner, n) in tasks::count_scoped(&self.0, scope, &owners, filter).await? {
                out.insert(
                    ScopedCountKey {
                        scope,
                        owner,
                        filter: filter.clone(),
                    },
                    n,
                );
            }
        }
        Ok(out)
    }
}

fn unique(ids: Vec<Uuid>) -> Vec<Uuid> {
    let mut seen = HashSet::with_capacity(ids.len());
    ids.into_iter().filter(|id| seen.insert(*id)).collect()
}

/// Every loader, shared by all requests. They batch but do not cache, so no
/// request ever sees another's stale rows.
pub struct Loaders {
    pub task_by_id: DataLoader<TaskById>,
    pub categories_of_task: DataLoader<CategoriesOfTask>,
    pub scoped_pages: DataLoader<ScopedPages>,
    pub scoped_counts: DataLoader<ScopedCounts>,
}

impl Loaders {
    pub fn new(db: &DatabaseConnection) -> Self {
        Self {
            task_by_id: DataLoader::new(TaskById(db.clone()), tokio::spawn),
            categories_of_task: DataLoader::new(CategoriesOfTask(db.clone()), tokio::spawn),
            scoped_pages: DataLoader::new(ScopedPages(db.clone()), tokio::spawn),
            scoped_counts: DataLoader::new(ScopedCounts(db.clone()), tokio::spawn),
        }
    }
}
