//! One owner's view of the database. Every read and every change of the
//! service layer goes through a [`Scoped`]: the owner it names is in every
//! statement's conditions, and with `DB_ROW_LEVEL_SECURITY=true` also in the
//! transaction's `app.owner_id`, which PostgreSQL's policies check, so a
//! condition forgotten in code still cannot reach another owner's rows.

use std::sync::Arc;

use futures_util::lock::Mutex;
use sea_orm::sea_query::Values;
use sea_orm::sqlx::{self, AssertSqlSafe, Postgres};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseExecutor, DatabaseTransaction, DbBackend, DbErr,
    ExecResult, QueryResult, RuntimeErr, Statement, TransactionTrait,
};
use sea_query_sqlx::SqlxValues;

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
        f: impl AsyncFnOnce(&Reader<'_>) -> AppResult<T>,
    ) -> AppResult<T> {
        if !self.rls() {
            return f(&Reader::Sea(DatabaseExecutor::from(&self.store.db))).await;
        }
        let reader = Reader::Owned(OwnedTxn::begin(&self.store.db, self.owner()).await?);
        f(&reader).await
        // Nothing to commit: dropping the reader ends its transaction, and
        // the request does not wait for that.
    }

    /// A transaction for a change (naming the owner for row-level security,
    /// in the same message as its BEGIN).
    pub(crate) async fn begin(&self) -> AppResult<Txn> {
        if self.rls() {
            return Ok(Txn::Owned(
                OwnedTxn::begin(&self.store.db, self.owner()).await?,
            ));
        }
        Ok(Txn::Sea(self.store.db.begin().await?))
    }

    /// What a commit of this store wakes on this replica.
    pub(crate) fn wake(&self) -> &Wake {
        &self.store.wake
    }
}

/// Where statements run: sea-orm's connection or transaction, or under
/// row-level security a transaction that named its owner as it began.
pub(crate) enum OrOwned<S> {
    Sea(S),
    Owned(OwnedTxn),
}

/// What a read's statements run on: the pool, or the read's own transaction.
pub(crate) type Reader<'a> = OrOwned<DatabaseExecutor<'a>>;

/// A change's transaction.
pub(crate) type Txn = OrOwned<DatabaseTransaction>;

impl Txn {
    pub(crate) async fn commit(self) -> Result<(), DbErr> {
        match self {
            Self::Sea(txn) => txn.commit().await,
            Self::Owned(txn) => txn.commit().await,
        }
    }

    pub(crate) async fn rollback(self) -> Result<(), DbErr> {
        match self {
            Self::Sea(txn) => txn.rollback().await,
            Self::Owned(txn) => txn.rollback().await,
        }
    }
}

impl From<DatabaseTransaction> for Txn {
    fn from(txn: DatabaseTransaction) -> Self {
        Self::Sea(txn)
    }
}

/// A transaction that names its owner in its first message
/// ("BEGIN; SELECT set_config(...)"): one round trip, where sea-orm's
/// transaction takes two (BEGIN, then the setting); sea-orm cannot begin a
/// PostgreSQL transaction with a statement of ours, so this is sqlx's, and
/// runs sea-orm's statements bound as sea-orm binds them. A read never
/// commits it: dropping it (done, failed, or the request's future dropped
/// mid-statement) leaves sqlx's ROLLBACK queued on the connection, sent with
/// the ping sqlx makes as the connection goes back to the pool, so no
/// request waits for it, and the setting, local to the transaction (and
/// rolled back even if it were not), ends with it. A connection that cannot
/// take that ping is closed, not pooled.
pub(crate) struct OwnedTxn(Mutex<sqlx::Transaction<'static, Postgres>>);

impl OwnedTxn {
    async fn begin(db: &DatabaseConnection, owner: &str) -> Result<Self, DbErr> {
        let begin = begin_naming(owner)?;
        let txn = db
            .get_postgres_connection_pool()
            .begin_with(AssertSqlSafe(begin))
            .await
            .map_err(|e| DbErr::Conn(RuntimeErr::SqlxError(e.into())))?;
        Ok(Self(Mutex::new(txn)))
    }

    async fn commit(self) -> Result<(), DbErr> {
        self.0.into_inner().commit().await.map_err(exec_err)
    }

    async fn rollback(self) -> Result<(), DbErr> {
        self.0.into_inner().rollback().await.map_err(exec_err)
    }
}

/// The BEGIN of a transaction that names `owner`. It goes as a simple query
/// (no parameters there), so the owner is a literal: an escape string, the
/// one form PostgreSQL reads the same whatever
/// `standard_conforming_strings` says, with its quotes and backslashes
/// doubled. A NUL cannot be sent at all; refusing it here keeps this message
/// from failing inside the transaction it opens (sqlx would then pool the
/// connection in an aborted transaction).
fn begin_naming(owner: &str) -> Result<String, DbErr> {
    if owner.contains('\0') {
        return Err(DbErr::Custom("an owner cannot contain NUL".into()));
    }
    let mut sql = String::with_capacity(owner.len() + 64);
    sql.push_str("BEGIN; SELECT set_config('app.owner_id', E'");
    for c in owner.chars() {
        if matches!(c, '\'' | '\\') {
            sql.push(c);
        }
        sql.push(c);
    }
    sql.push_str("', true)");
    Ok(sql)
}

/// sea-orm's statement as sqlx's query, its values moved, not copied.
fn sqlx_query(sql: &str, values: Option<Values>) -> sqlx::query::Query<'_, Postgres, SqlxValues> {
    let values = values.unwrap_or(Values(Vec::new()));
    sqlx::query_with(AssertSqlSafe(sql), SqlxValues(values))
}

fn exec_err(e: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(e.into()))
}

fn query_err(e: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(e.into()))
}

#[async_trait::async_trait]
impl ConnectionTrait for OwnedTxn {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Postgres
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let mut txn = self.0.lock().await;
        let done = sqlx_query(&stmt.sql, stmt.values).execute(&mut **txn).await;
        done.map(Into::into).map_err(exec_err)
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let mut txn = self.0.lock().await;
        let done = sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
            .execute(&mut **txn)
            .await;
        done.map(Into::into).map_err(exec_err)
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let mut txn = self.0.lock().await;
        let row = sqlx_query(&stmt.sql, stmt.values)
            .fetch_optional(&mut **txn)
            .await;
        row.map(|r| r.map(Into::into)).map_err(query_err)
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let mut txn = self.0.lock().await;
        let rows = sqlx_query(&stmt.sql, stmt.values)
            .fetch_all(&mut **txn)
            .await;
        rows.map(|rows| rows.into_iter().map(Into::into).collect())
            .map_err(query_err)
    }
}

#[async_trait::async_trait]
impl<S: ConnectionTrait + Send + Sync> ConnectionTrait for OrOwned<S> {
    fn get_database_backend(&self) -> DbBackend {
        match self {
            Self::Sea(db) => db.get_database_backend(),
            Self::Owned(txn) => txn.get_database_backend(),
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self {
            Self::Sea(db) => db.execute_raw(stmt).await,
            Self::Owned(txn) => txn.execute_raw(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match self {
            Self::Sea(db) => db.execute_unprepared(sql).await,
            Self::Owned(txn) => txn.execute_unprepared(sql).await,
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self {
            Self::Sea(db) => db.query_one_raw(stmt).await,
            Self::Owned(txn) => txn.query_one_raw(stmt).await,
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self {
            Self::Sea(db) => db.query_all_raw(stmt).await,
            Self::Owned(txn) => txn.query_all_raw(stmt).await,
        }
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

#[cfg(test)]
mod tests {
    use super::begin_naming;

    #[test]
    fn begin_naming_keeps_the_owner_one_literal() {
        assert_eq!(
            begin_naming(r"a'b\c").expect("named"),
            r"BEGIN; SELECT set_config('app.owner_id', E'a''b\\c', true)"
        );
        assert!(begin_naming("a\0b").is_err());
    }
}
