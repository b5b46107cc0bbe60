//! One owner's view of the database. Every read and every change of the
//! service layer goes through a [`Scoped`]: the owner it names is in every
//! statement's conditions, and with `DB_ROW_LEVEL_SECURITY=true` also in the
//! transaction's `app.owner_id`, which PostgreSQL's policies check, so a
//! condition forgotten in code still cannot reach another owner's rows.

use std::sync::Arc;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseExecutor, DatabaseTransaction, DbBackend,
    Statement, TransactionTrait,
};

use migration::SearchLanguage;

use super::Wake;
use crate::error::AppResult;

/// Whose rows a call reads and changes: the subject of the caller's token,
/// or the single user's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Owner(Arc<str>);

impl Owner {
    pub(crate) fn new(subject: &str) -> Self {
        Self(subject.into())
    }

    /// The owner of everything in single-user mode.
    pub fn single_user() -> Self {
        Self::new(migration::SINGLE_USER_OWNER)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The database as the service layer uses it: the pool, this replica's
/// event tail to wake when a change commits, whether PostgreSQL's
/// row-level security is on, and the language tasks are searched in.
#[derive(Clone)]
pub struct Store {
    pub db: DatabaseConnection,
    pub wake: Wake,
    pub row_level_security: bool,
    pub search_language: SearchLanguage,
}

impl Store {
    /// A store without row-level security, searching in the default
    /// language (tests and tools).
    pub fn new(db: DatabaseConnection, wake: Wake) -> Self {
        Self {
            db,
            wake,
            row_level_security: false,
            search_language: SearchLanguage::default(),
        }
    }

    pub fn scoped<'a>(&'a self, owner: &'a Owner) -> Scoped<'a> {
        Scoped { store: self, owner }
    }
}

pub struct Scoped<'a> {
    store: &'a Store,
    owner: &'a Owner,
}

impl Scoped<'_> {
    pub(crate) fn owner(&self) -> &str {
        self.owner.as_str()
    }

    pub(crate) fn backend(&self) -> DbBackend {
        self.store.db.get_database_backend()
    }

    pub(crate) fn search_language(&self) -> &SearchLanguage {
        &self.store.search_language
    }

    fn rls(&self) -> bool {
        self.store.row_level_security && self.store.db.get_database_backend() == DbBackend::Postgres
    }

    /// Runs reads: on the pool, or with row-level security in a transaction
    /// of their own that names the owner.
    pub(crate) async fn read<T>(
        &self,
        f: impl AsyncFnOnce(&DatabaseExecutor<'_>) -> AppResult<T>,
    ) -> AppResult<T> {
        if !self.rls() {
            return f(&DatabaseExecutor::from(&self.store.db)).await;
        }
        let txn = self.begin().await?;
        let out = f(&DatabaseExecutor::from(&txn)).await?;
        txn.commit().await?;
        Ok(out)
    }

    /// A transaction for a change (naming the owner for row-level security).
    pub(crate) async fn begin(&self) -> AppResult<DatabaseTransaction> {
        let txn = self.store.db.begin().await?;
        if self.rls() {
            set_owner(&txn, self.owner()).await?;
        }
        Ok(txn)
    }

    /// What a commit of this store wakes on this replica.
    pub(crate) fn wake(&self) -> &Wake {
        &self.store.wake
    }
}

/// `app.owner_id` for the rest of the transaction (what the policies read).
pub(crate) async fn set_owner(txn: &impl ConnectionTrait, owner: &str) -> AppResult<()> {
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT set_config('app.owner_id', $1, true)",
        [owner.into()],
    ))
    .await?;
    Ok(())
}

/// For the event log's own readers (every replica reads all owners' events
/// and filters them per subscriber): the policy that lets them see it all.
pub(crate) async fn set_every_owner(txn: &impl ConnectionTrait) -> AppResult<()> {
    set_owner(txn, EVERY_OWNER).await
}

/// Never a subject: tokens naming it are refused.
pub(crate) const EVERY_OWNER: &str = "*";
