//! The language tasks are searched in (`SEARCH_LANGUAGE`). It is fixed when
//! the search migration runs: the stored index is built with it, and a
//! query must use the same stemming as the index it reads.
//!
//! The migration learns it from whoever runs it: the `migration` CLI reads
//! `SEARCH_LANGUAGE` itself (as it reads `DATABASE_URL`), and the api passes
//! its configured value when it migrates at start. Either wraps the run in
//! [`with_search_language`]; a run without it (tests calling the migrator
//! directly) indexes in [`SearchLanguage::DEFAULT`]. A task-local and not a
//! global, so processes (and tests) migrating several databases at once
//! each keep their own.

use std::fmt;
use std::future::Future;

/// A validated text search configuration name: `english`, `simple`,
/// `german`, or `schema.name` for one of your own (PostgreSQL). SQLite
/// knows `english` (FTS5's porter stemmer) and `simple` (no stemming).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SearchLanguage(String);

impl SearchLanguage {
    pub const DEFAULT: &'static str = "english";

    /// Accepts what PostgreSQL accepts as an unquoted (optionally
    /// schema-qualified) configuration name, lower-cased as PostgreSQL folds
    /// it; anything else is refused, so the name can be trusted in DDL.
    pub fn parse(value: &str) -> Result<Self, String> {
        const EXPECTED: &str =
            "expected a text search configuration name such as english, simple or german";
        let name = value.trim().to_ascii_lowercase();
        let part_ok = |part: &str| {
            let mut chars = part.chars();
            matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
                && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        let parts: Vec<&str> = name.split('.').collect();
        if name.len() > 127 || parts.len() > 2 || !parts.iter().all(|p| part_ok(p)) {
            return Err(EXPECTED.into());
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether words are stemmed as English (and English stop words are
    /// ignored): `english` or `pg_catalog.english`.
    pub fn is_english(&self) -> bool {
        matches!(self.0.as_str(), "english" | "pg_catalog.english")
    }

    fn is_simple(&self) -> bool {
        matches!(self.0.as_str(), "simple" | "pg_catalog.simple")
    }

    /// The FTS5 tokenizer for this language: unicode61 folds case and
    /// (`remove_diacritics 2`) accents; porter stems English. FTS5 has no
    /// other stemmer, so other languages are refused on SQLite.
    pub fn sqlite_tokenizer(&self) -> Result<&'static str, String> {
        if self.is_english() {
            Ok(SQLITE_ENGLISH_TOKENIZER)
        } else if self.is_simple() {
            Ok("unicode61 remove_diacritics 2")
        } else {
            Err(format!(
                "SEARCH_LANGUAGE={self}: SQLite can search in english (stemmed) or simple \
                 (not stemmed) only; other languages need PostgreSQL"
            ))
        }
    }

    /// The language of an FTS5 table, from its `CREATE VIRTUAL TABLE`.
    pub fn of_sqlite_table(sql: &str) -> Self {
        Self(
            if sql.contains("porter") {
                Self::DEFAULT
            } else {
                "simple"
            }
            .into(),
        )
    }
}

const SQLITE_ENGLISH_TOKENIZER: &str = "porter unicode61 remove_diacritics 2";

impl Default for SearchLanguage {
    fn default() -> Self {
        Self(Self::DEFAULT.into())
    }
}

impl fmt::Display for SearchLanguage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

tokio::task_local! {
    static CHOSEN: SearchLanguage;
}

/// Runs `migrating` with `language` as the one the search index is built in.
pub async fn with_search_language<F: Future>(language: SearchLanguage, migrating: F) -> F::Output {
    CHOSEN.scope(language, migrating).await
}

/// The language of the migration running now.
pub(crate) fn chosen() -> SearchLanguage {
    CHOSEN.try_with(Clone::clone).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_identifiers() {
        assert_eq!(
            SearchLanguage::parse(" English ").unwrap().as_str(),
            "english"
        );
        assert_eq!(
            SearchLanguage::parse("pg_catalog.german").unwrap().as_str(),
            "pg_catalog.german"
        );
        for bad in [
            "",
            "english;drop table tasks",
            "eng lish",
            "'english'",
            "1english",
            "a.b.c",
            "english.",
            "\"english\"",
        ] {
            assert!(SearchLanguage::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sqlite_knows_english_and_simple() {
        let lang = |s: &str| SearchLanguage::parse(s).unwrap();
        assert!(
            lang("english")
                .sqlite_tokenizer()
                .unwrap()
                .contains("porter")
        );
        assert!(
            !lang("simple")
                .sqlite_tokenizer()
                .unwrap()
                .contains("porter")
        );
        assert!(lang("german").sqlite_tokenizer().is_err());
        let sql = format!(
            "CREATE VIRTUAL TABLE t USING fts5(d, tokenize = '{SQLITE_ENGLISH_TOKENIZER}')"
        );
        assert_eq!(SearchLanguage::of_sqlite_table(&sql), lang("english"));
    }

    #[tokio::test]
    async fn the_chosen_language_is_per_task() {
        assert_eq!(chosen(), SearchLanguage::default());
        let german = SearchLanguage::parse("german").unwrap();
        let inside = with_search_language(german.clone(), async { chosen() }).await;
        assert_eq!(inside, german);
        assert_eq!(chosen(), SearchLanguage::default());
    }
}
