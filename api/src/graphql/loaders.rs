//! DataLoaders: nested fields of a page of tasks cost one statement per field,
//! not one per row.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::dataloader::{
    CacheFactory, CacheStorage, DataLoader, HashMapCache, Loader, NoCache,
};
use entity::{category, task};
use sea_orm::prelude::Uuid;

use super::batches::Batches;
use crate::error::AppError;
use crate::service::page::Page;
use crate::service::tasks::{self, Holder, TaskFilter, TaskListQuery};
use crate::service::{Owner, Scoped, Store, categories};

pub(crate) type LoadError = Arc<AppError>;

/// What every loader reads from: the store, as the request's owner.
#[derive(Clone)]
pub(crate) struct Source {
    store: Store,
    owner: Owner,
}

impl Source {
    fn scope(&self) -> Scoped<'_> {
        self.store.scoped(&self.owner)
    }
}

/// Tasks by id (parents, `node`, `nodes`).
pub(crate) struct TaskById(Source);

impl Loader<Uuid> for TaskById {
    type Value = task::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, task::Model>, LoadError> {
        Ok(tasks::find_by_ids(&self.0.scope(), keys).await?)
    }
}

/// Categories by id (`node`, `nodes`).
pub(crate) struct CategoryById(Source);

impl Loader<Uuid> for CategoryById {
    type Value = category::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, category::Model>, LoadError> {
        Ok(categories::find_by_ids(&self.0.scope(), keys).await?)
    }
}

/// The categories of each task.
pub(crate) struct CategoriesOfTask(Source);

impl Loader<Uuid> for CategoriesOfTask {
    type Value = Vec<category::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Vec<category::Model>>, LoadError> {
        Ok(tasks::categories_of(&self.0.scope(), keys).await?)
    }
}

/// A page of a nested task list (`Task.subtasks`, `Category.tasks`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ScopedPageKey {
    pub(crate) kind: Holder,
    /// The parent task or the category the list hangs off.
    pub(crate) holder: Uuid,
    pub(crate) query: Arc<TaskListQuery>,
}

pub(crate) struct ScopedPages(Source);

impl Loader<ScopedPageKey> for ScopedPages {
    type Value = Page<task::Model>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[ScopedPageKey],
    ) -> Result<HashMap<ScopedPageKey, Page<task::Model>>, LoadError> {
        // Holders asking for the same list share one statement.
        let mut groups: HashMap<(Holder, &Arc<TaskListQuery>), Vec<Uuid>> = HashMap::new();
        for key in keys {
            groups
                .entry((key.kind, &key.query))
                .or_default()
                .push(key.holder);
        }
        let mut out = HashMap::with_capacity(keys.len());
        for ((kind, query), holders) in groups {
            let holders = crate::service::unique(holders);
            let scoped = self.0.scope();
            for (holder, page) in tasks::list_scoped(&scoped, kind, &holders, query).await? {
                out.insert(
                    ScopedPageKey {
                        kind,
                        holder,
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
pub(crate) struct ScopedCountKey {
    pub(crate) kind: Holder,
    pub(crate) holder: Uuid,
    pub(crate) filter: Arc<TaskFilter>,
}

pub(crate) struct ScopedCounts(Source);

impl Loader<ScopedCountKey> for ScopedCounts {
    type Value = u64;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[ScopedCountKey],
    ) -> Result<HashMap<ScopedCountKey, u64>, LoadError> {
        let mut groups: HashMap<(Holder, &Arc<TaskFilter>), Vec<Uuid>> = HashMap::new();
        for key in keys {
            groups
                .entry((key.kind, &key.filter))
                .or_default()
                .push(key.holder);
        }
        let mut out = HashMap::with_capacity(keys.len());
        for ((kind, filter), holders) in groups {
            let holders = crate::service::unique(holders);
            let scoped = self.0.scope();
            for (holder, n) in tasks::count_scoped(&scoped, kind, &holders, filter).await? {
                out.insert(
                    ScopedCountKey {
                        kind,
                        holder,
                        filter: filter.clone(),
                    },
                    n,
                );
            }
        }
        Ok(out)
    }
}

/// The loaders of one operation: for queries and mutations caching (a row
/// is loaded at most once per request, and prefetched rows are served from
/// memory); for subscriptions not (each event reads fresh rows).
pub(crate) struct Loaders {
    pub(crate) task_by_id: DataLoader<TaskById, AnyCache>,
    pub(crate) category_by_id: DataLoader<CategoryById, AnyCache>,
    pub(crate) categories_of_task: DataLoader<CategoriesOfTask, AnyCache>,
    pub(crate) scoped_pages: DataLoader<ScopedPages, AnyCache>,
    pub(crate) scoped_counts: DataLoader<ScopedCounts, AnyCache>,
    /// Whether prefetching pays off (it does only with a cache to fill).
    pub(crate) cached: bool,
}

fn make<L: Send + Sync + 'static>(
    loader: L,
    batches: &Batches,
    cached: bool,
) -> DataLoader<L, AnyCache> {
    // No window: the batch starts when the operation's poll ends, with every
    // key asked for in that poll.
    DataLoader::with_cache(loader, batches.spawner(), AnyCache(cached)).delay(Duration::ZERO)
}

/// A cache that is on for request-scoped loaders and off for shared ones.
#[derive(Clone, Copy)]
pub(crate) struct AnyCache(bool);

impl CacheFactory for AnyCache {
    fn create<K, V>(&self) -> Box<dyn CacheStorage<Key = K, Value = V>>
    where
        K: Send + Sync + Clone + Eq + std::hash::Hash + 'static,
        V: Send + Sync + Clone + 'static,
    {
        if self.0 {
            HashMapCache::default().create()
        } else {
            NoCache.create()
        }
    }
}

impl Loaders {
    /// Loaders whose batches run with `batches` (see `super::batches`).
    pub(crate) fn per_request(store: &Store, owner: &Owner, batches: &Batches) -> Self {
        Self::build(store, owner, batches, true)
    }

    pub(crate) fn uncached(store: &Store, owner: &Owner, batches: &Batches) -> Self {
        Self::build(store, owner, batches, false)
    }

    fn build(store: &Store, owner: &Owner, batches: &Batches, cached: bool) -> Self {
        let source = Source {
            store: store.clone(),
            owner: owner.clone(),
        };
        Self {
            task_by_id: make(TaskById(source.clone()), batches, cached),
            category_by_id: make(CategoryById(source.clone()), batches, cached),
            categories_of_task: make(CategoriesOfTask(source.clone()), batches, cached),
            scoped_pages: make(ScopedPages(source.clone()), batches, cached),
            scoped_counts: make(ScopedCounts(source), batches, cached),
            cached,
        }
    }
}
