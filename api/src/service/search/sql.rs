//! A parsed search as SQL for each engine. Words travel only as bound
//! values, and each is a run of letters and digits, so neither engine's
//! query syntax can be reached from what a client typed.
//!
//! - PostgreSQL: a `tsquery` built from `plainto_tsquery` / `phraseto_tsquery`
//!   (which read their argument as plain text) and, for the prefix,
//!   `to_tsquery` of one quoted word; all through `task_search_text()`, the
//!   same folding the stored `search_vector` went through. Ranked with
//!   `ts_rank` (normalised by length, as bm25 is). The query is a scalar
//!   subquery, computed once per statement rather than once per row.
//! - SQLite: an FTS5 query of double-quoted strings (`"word"`, `"word"*`,
//!   `"two words"`) joined by FTS5's own AND / NOT / OR, matched against
//!   `tasks_fts`, ranked with `-bm25()` so that higher is better on both.
//!   FTS5 has no stop words; with `english`, the words PostgreSQL's english
//!   configuration ignores are dropped here too.

use std::sync::Arc;

use entity::task;
use sea_orm::DbBackend;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, JoinType, Query, SelectStatement};
use sea_orm::{Value, prelude::Uuid};

use super::{SearchQuery, Term};
use crate::service::page::Rebound;
use migration::SearchLanguage;

/// A search as one engine runs it.
#[derive(Clone)]
pub(crate) struct SearchSql(Plan);

#[derive(Clone)]
enum Plan {
    /// A blank search: every task, all ranked alike.
    Everything,
    /// Nothing left to look for (only punctuation or stop words).
    Nothing,
    Postgres {
        /// The `tsquery`, as a scalar subquery.
        query: Expr,
        ranked: bool,
    },
    Sqlite {
        /// What FTS5 must match (with the exclusions folded in), if any
        /// word is required.
        matching: Option<String>,
        /// What a task must not match, when no word is required.
        excluded_only: Option<String>,
        /// The matches are many: walk the order's index and test each task
        /// against them (see [`SearchSql::walk_order`]).
        walk: bool,
    },
}

const HITS: &str = "search_hits";

impl SearchSql {
    pub(crate) fn new(search: &SearchQuery, backend: DbBackend, language: &SearchLanguage) -> Self {
        Self(match backend {
            _ if search.blank => Plan::Everything,
            DbBackend::Postgres => postgres(search),
            _ => sqlite(search, language),
        })
    }

    /// A blank search, which keeps every task.
    pub(crate) fn is_everything(&self) -> bool {
        matches!(self.0, Plan::Everything)
    }

    /// Keeps only matching tasks.
    pub(crate) fn condition(&self) -> Expr {
        match &self.0 {
            Plan::Everything => Expr::val(1).eq(1),
            Plan::Nothing => Expr::val(1).eq(0),
            Plan::Postgres { query, .. } => Expr::col((task::Entity, Alias::new("search_vector")))
                .binary(sea_orm::sea_query::BinOper::Custom("@@"), query.clone()),
            Plan::Sqlite {
                matching: Some(matching),
                walk: false,
                ..
            } => Expr::col((task::Entity, task::Column::Id)).in_subquery(hits(matching, false)),
            // The unary plus keeps SQLite from reading tasks by the
            // matches' ids, so it walks the index of the page's order.
            Plan::Sqlite {
                matching: Some(matching),
                walk: true,
                ..
            } => Expr::cust("+\"tasks\".\"id\"").in_subquery(hits(matching, false)),
            Plan::Sqlite {
                excluded_only: Some(excluded),
                ..
            } => Expr::col((task::Entity, task::Column::Id)).not_in_subquery(hits(excluded, false)),
            Plan::Sqlite { .. } => Expr::val(1).eq(0),
        }
    }

    /// Adds to a select of tasks what keeps the matching ones and what its
    /// [`rank`](Self::rank) reads: on SQLite, bm25 exists only beside the
    /// FTS5 match, so the match becomes a join there (and is the filter).
    pub(crate) fn apply(&self, select: &mut SelectStatement, ranked: bool) {
        match &self.0 {
            Plan::Sqlite {
                matching: Some(matching),
                ..
            } if ranked => join_hits(select, matching, true),
            _ => {
                select.and_where(self.condition());
            }
        }
    }

    /// Keeps only matching tasks, read in the order the engine finds them:
    /// a statement that stops after a few (a capped count) reads only
    /// those. On SQLite the matches are joined, where [`condition`]'s `IN`
    /// would list every one of them first.
    ///
    /// [`condition`]: Self::condition
    pub(crate) fn apply_streamed(&self, select: &mut SelectStatement) {
        match &self.0 {
            Plan::Sqlite {
                matching: Some(matching),
                ..
            } => join_hits(select, matching, false),
            _ => {
                select.and_where(self.condition());
            }
        }
    }

    /// How well a task matches, higher is better; 0 for every task when no
    /// word is required. Needs [`apply`](Self::apply) with `ranked`.
    pub(crate) fn rank(&self) -> Expr {
        match &self.0 {
            Plan::Postgres {
                query,
                ranked: true,
            } => Expr::cust_with_exprs(
                "CAST(ts_rank(\"tasks\".\"search_vector\", $1, 1) AS double precision)",
                [query.clone()],
            ),
            Plan::Sqlite {
                matching: Some(_), ..
            } => Expr::col((Alias::new(HITS), Alias::new("rank"))),
            _ => Expr::val(0.0_f64),
        }
    }

    /// On SQLite, the matches counted up to one past `limit`, when the
    /// choice between the two ways of reading them is open: a required
    /// word, not ranked (a ranked list reads its matches with their rank).
    pub(crate) fn matches_up_to(&self, limit: u64) -> Option<SelectStatement> {
        let Plan::Sqlite {
            matching: Some(matching),
            ..
        } = &self.0
        else {
            return None;
        };
        // One FTS5 row per task: the matches are counted in the index alone.
        Some(
            Query::select()
                .expr(Expr::val(1))
                .from(Alias::new("tasks_fts"))
                .and_where(Expr::cust_with_values("tasks_fts MATCH ?", [matching]))
                .limit(limit + 1)
                .to_owned(),
        )
    }

    /// Reads a list's matches by walking the order's index, each task
    /// tested against them, rather than reading every match and sorting:
    /// a word in one task of 16 otherwise reads and sorts 6k tasks for a
    /// page of 20 that the walk finds in a few hundred.
    pub(crate) fn walk_order(&mut self) {
        if let Plan::Sqlite { walk, .. } = &mut self.0 {
            *walk = true;
        }
    }

    /// SQLite's bm25 depends on table-wide statistics (how many rows, how
    /// long they are on average, how many contain each word), so any write
    /// moves every rank a little, and a rank kept in a cursor goes stale.
    /// There the boundary is the cursor task's rank now (one statement sees
    /// one set of statistics), or the kept rank if it no longer matches.
    /// PostgreSQL's ts_rank depends on the row and the query only: the
    /// cursor's rank stays exact.
    pub(crate) fn rebound(&self) -> Option<Rebound> {
        let Plan::Sqlite {
            matching: Some(matching),
            ..
        } = &self.0
        else {
            return None;
        };
        let matching = matching.clone();
        Some(Arc::new(move |kept: Value, cursor: &[Option<Value>]| {
            let Some(Some(Value::Uuid(Some(id)))) = cursor.last() else {
                return Expr::val(kept);
            };
            let id: Uuid = *id;
            Expr::cust_with_values(
                "COALESCE((SELECT -bm25(tasks_fts) FROM tasks_fts \
                 WHERE tasks_fts MATCH ? AND tasks_fts.rowid = \
                 (SELECT search_row FROM task_search_rows WHERE task_id = ?)), ?)",
                [Value::from(matching.clone()), Value::from(id), kept],
            )
        }))
    }
}

fn join_hits(select: &mut SelectStatement, matching: &str, ranked: bool) {
    select.join_subquery(
        JoinType::InnerJoin,
        hits(matching, ranked),
        Alias::new(HITS),
        Expr::col((Alias::new(HITS), Alias::new("task_id")))
            .equals((task::Entity, task::Column::Id)),
    );
}

/// Task ids matching an FTS5 query (with their rank when `ranked`).
fn hits(matching: &str, ranked: bool) -> SelectStatement {
    let mut select = Query::select();
    select
        .expr_as(
            Expr::col((Alias::new("r"), Alias::new("task_id"))),
            Alias::new("task_id"),
        )
        .from(Alias::new("tasks_fts"))
        .join_as(
            JoinType::InnerJoin,
            Alias::new("task_search_rows"),
            Alias::new("r"),
            Expr::col((Alias::new("r"), Alias::new("search_row")))
                .equals((Alias::new("tasks_fts"), Alias::new("rowid"))),
        )
        .and_where(Expr::cust_with_values("tasks_fts MATCH ?", [matching]));
    if ranked {
        select.expr_as(Expr::cust("-bm25(tasks_fts)"), Alias::new("rank"));
    }
    select
}

fn postgres(search: &SearchQuery) -> Plan {
    if search.terms.is_empty() {
        return Plan::Nothing;
    }
    let mut sql = Vec::with_capacity(search.terms.len());
    let mut values: Vec<Value> = Vec::with_capacity(search.terms.len());
    for (i, term) in search.terms.iter().enumerate() {
        // sea-query's numbered placeholder for PostgreSQL, within this expression.
        let n = i + 1;
        let query = if term.prefix {
            // One word, quoted for to_tsquery: task_search_text() leaves no
            // ASCII punctuation (so no quote or backslash), and the space
            // before the closing quote keeps a word that folds to nothing
            // from becoming the syntax error `'':*`.
            format!("to_tsquery(task_search_config(), '''' || task_search_text(${n}) || ' '':*')")
        } else if term.phrase {
            format!("phraseto_tsquery(task_search_config(), task_search_text(${n}))")
        } else {
            format!("plainto_tsquery(task_search_config(), task_search_text(${n}))")
        };
        sql.push(if term.excluded {
            format!("(!!{query})")
        } else {
            format!("({query})")
        });
        values.push(term.words.join(" ").into());
    }
    Plan::Postgres {
        query: Expr::cust_with_values(format!("(SELECT {})", sql.join(" && ")), values),
        ranked: search.has_required_terms(),
    }
}

fn sqlite(search: &SearchQuery, language: &SearchLanguage) -> Plan {
    let stop_words = language.is_english().then(english_stop_words).flatten();
    let kept: Vec<&Term> = search
        .terms
        .iter()
        .filter(|t| {
            stop_words.is_none_or(|stop| {
                !t.words
                    .iter()
                    .all(|w| stop.contains(&w.to_lowercase().as_str()))
            })
        })
        .collect();
    let fts = |t: &Term| {
        // Letters and digits only: nothing inside the quotes is syntax.
        let quoted = format!("\"{}\"", t.words.join(" "));
        if t.prefix { quoted + "*" } else { quoted }
    };
    let required: Vec<String> = kept
        .iter()
        .filter(|t| !t.excluded)
        .map(|t| fts(t))
        .collect();
    let excluded: Vec<String> = kept.iter().filter(|t| t.excluded).map(|t| fts(t)).collect();
    match (required.is_empty(), excluded.is_empty()) {
        (true, true) => Plan::Nothing,
        (false, true) => Plan::Sqlite {
            matching: Some(required.join(" ")),
            excluded_only: None,
            walk: false,
        },
        (false, false) => Plan::Sqlite {
            matching: Some(format!(
                "({}) NOT ({})",
                required.join(" "),
                excluded.join(" OR ")
            )),
            excluded_only: None,
            walk: false,
        },
        (true, false) => Plan::Sqlite {
            matching: None,
            excluded_only: Some(excluded.join(" OR ")),
            walk: false,
        },
    }
}

/// English stop words (the list PostgreSQL's english configuration derives
/// from, with a few contractions' parts more).
fn english_stop_words() -> Option<&'static [&'static str]> {
    stop_words::lookup("en")
}
