//! Documents are parsed and checked once: a bounded cache keyed by the
//! SHA-256 of the query text keeps the parsed document with what the
//! document alone decides (its limits), so a repeated query skips the parser.

use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::ServerError;
use async_graphql::parser::Pos;
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use lru::LruCache;
use sha2::{Digest, Sha256};

use super::settings::GraphqlLimits;
use super::{codes, limits};

pub(crate) type Hash = [u8; 32];

/// A parsed document and what is known of it without variables.
pub(crate) struct Document {
    pub(crate) parsed: ExecutableDocument,
    /// Why it may not run whatever the variables (a limit, introspection).
    pub(crate) refusal: Option<ServerError>,
    /// Where it uses variables (see `codes::classify`).
    pub(crate) variable_positions: HashSet<Pos>,
}

impl Document {
    /// The operation the executor will run for `requested`: its name (if
    /// any) and type; `None` when the name does not select one.
    pub(crate) fn selected(
        &self,
        requested: Option<&str>,
    ) -> Option<(Option<&str>, OperationType)> {
        match (&self.parsed.operations, requested) {
            (DocumentOperations::Single(op), None) => Some((None, op.node.ty)),
            (DocumentOperations::Single(_), Some(_)) => None,
            (DocumentOperations::Multiple(ops), Some(requested)) => ops
                .get_key_value(requested)
                .map(|(name, op)| (Some(name.as_str()), op.node.ty)),
            (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops
                .iter()
                .next()
                .map(|(name, op)| (Some(name.as_str()), op.node.ty)),
            (DocumentOperations::Multiple(_), None) => None,
        }
    }
}

pub(crate) struct Documents {
    /// Least recently used dropped first (the same crate as the persisted
    /// queries' store). A hit holds the lock for a hash-map lookup only;
    /// parsing happens outside it.
    cache: Mutex<LruCache<Hash, Arc<Document>>>,
    limits: GraphqlLimits,
    introspection: bool,
}

pub(crate) fn hash(query: &str) -> Hash {
    Sha256::digest(query.as_bytes()).into()
}

/// A SHA-256 hash in hex, as APQ sends it; also with the `sha256:` prefix
/// of GraphQL-over-HTTP's document identifiers, which
/// @graphql-codegen/client-preset writes into its manifest.
pub(crate) fn parse_hash(text: &str) -> Option<Hash> {
    let digits = text.strip_prefix("sha256:").unwrap_or(text);
    let mut hash = [0u8; 32];
    hex::decode_to_slice(digits, &mut hash).ok()?;
    Some(hash)
}

impl Documents {
    pub(crate) fn new(capacity: usize, limits: GraphqlLimits, introspection: bool) -> Self {
        Self {
            cache: Mutex::new(LruCache::new(
                NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN),
            )),
            limits,
            introspection,
        }
    }

    /// The document of `query`, parsed now or earlier; a document that does
    /// not parse is not kept.
    pub(crate) fn get(&self, query: &str) -> Result<Arc<Document>, ServerError> {
        self.check_text(query)?;
        self.get_hashed(hash(query), query)
    }

    /// Size checks, before the text is hashed or parsed.
    pub(crate) fn check_text(&self, query: &str) -> Result<(), ServerError> {
        limits::check_text(&self.limits, query)
    }

    /// As [`Documents::get`], for a caller that checked `query` with
    /// [`Documents::check_text`] (now, or when it kept the text) and hashed it.
    pub(crate) fn get_hashed(&self, key: Hash, query: &str) -> Result<Arc<Document>, ServerError> {
        if let Some(document) = self.cache().get(&key) {
            return Ok(document.clone());
        }
        let document = Arc::new(self.build(query)?);
        self.cache().put(key, document.clone());
        Ok(document)
    }

    /// Parses and checks `query` for a caller that keeps the document itself
    /// (the trusted documents' manifest).
    pub(crate) fn parse(&self, query: &str) -> Result<Document, ServerError> {
        self.check_text(query)?;
        self.build(query)
    }

    fn build(&self, query: &str) -> Result<Document, ServerError> {
        let parsed = async_graphql::parser::parse_query(query).map_err(codes::parse_failed)?;
        Ok(Document {
            refusal: limits::check_document(&self.limits, self.introspection, &parsed).err(),
            variable_positions: limits::variable_positions(&parsed),
            parsed,
        })
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, LruCache<Hash, Arc<Document>>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.cache().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn documents(capacity: usize) -> Documents {
        let limits = crate::config::Config::from_lookup(|_| None)
            .unwrap()
            .graphql_limits;
        Documents::new(capacity, limits, true)
    }

    #[test]
    fn hashes_are_hex_with_an_optional_prefix() {
        let hex = hex::encode(hash("{ a }"));
        assert_eq!(parse_hash(&hex), Some(hash("{ a }")));
        assert_eq!(
            parse_hash(&format!("sha256:{}", hex.to_uppercase())),
            Some(hash("{ a }"))
        );
        for bad in [
            "",
            "abc",
            &hex[1..],
            &format!("{hex}00"),
            &hex.replace('a', "g"),
        ] {
            assert_eq!(parse_hash(bad), None, "{bad}");
        }
    }

    #[test]
    fn parses_once_and_stays_bounded() {
        let documents = documents(2);
        let first = documents.get("{ a }").unwrap();
        assert!(Arc::ptr_eq(&first, &documents.get("{ a }").unwrap()));
        for i in 0..10 {
            documents.get(&format!("{{ a{i} }}")).unwrap();
        }
        assert!(documents.len() <= 2, "{}", documents.len());
        assert!(documents.get("{").is_err());
    }

    #[test]
    fn the_selected_operation_is_the_one_that_runs() {
        let documents = documents(8);
        let anonymous = documents.get("{ a }").unwrap();
        assert_eq!(anonymous.selected(None), Some((None, OperationType::Query)));
        assert_eq!(anonymous.selected(Some("A")), None);
        let named = documents.get("query A { a } mutation B { b }").unwrap();
        assert_eq!(
            named.selected(Some("B")),
            Some((Some("B"), OperationType::Mutation))
        );
        assert_eq!(named.selected(Some("C")), None);
        assert_eq!(named.selected(None), None);
        let single = documents.get("subscription S { s }").unwrap();
        assert_eq!(
            single.selected(None),
            Some((Some("S"), OperationType::Subscription))
        );
    }
}
