//! Where a request's document comes from: its own text, the automatic
//! persisted queries (APQ) it registered earlier, or the manifest of trusted
//! documents. This is the protocol Apollo Client's persisted-queries link and
//! urql's persisted exchange speak: `extensions.persistedQuery {version: 1,
//! sha256Hash}` without a query runs the document registered under that
//! hash, or answers `PersistedQueryNotFound`, after which the client sends
//! the text with its hash once.
//!
//! The APQ store keeps texts, not parsed documents: its memory is bounded by
//! `APQ_CACHE_SIZE` times the largest document allowed, and the parse cache
//! (`documents.rs`, keyed by the same hash) stays the one place for parsed
//! documents. It is per replica: a client that lands on a replica that does
//! not know its hash gets `PersistedQueryNotFound` and sends the text again.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::{Request, ServerError, Value};
use lru::LruCache;
use metrics::counter;

use super::codes::{self, Code};
use super::documents::{self, Document, Documents, Hash, parse_hash};
use super::trusted::Trusted;
use crate::metrics::{
    GRAPHQL_PERSISTED_QUERIES_TOTAL, PERSISTED_HIT, PERSISTED_MISS, PERSISTED_REGISTERED,
};

/// The protocol's one version.
const VERSION: u64 = 1;

/// The documents clients registered by hash, least recently used dropped
/// first. A mutex, not a sharded cache: the eviction is exact LRU (what
/// clients of automatic persisted queries expect), and a hit holds the lock
/// for one hash-map lookup.
struct Apq(Mutex<LruCache<Hash, Arc<str>>>);

impl Apq {
    fn get(&self, hash: &Hash) -> Option<Arc<str>> {
        let mut store = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        store.get(hash).cloned()
    }

    fn register(&self, hash: Hash, query: &str) {
        let mut store = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        store.get_or_insert(hash, || query.into());
    }
}

pub(crate) struct Persisted {
    /// `None`: `APQ_CACHE_SIZE=0`, APQ is off.
    apq: Option<Apq>,
    /// `None`: no manifest in force (`TRUSTED_DOCUMENTS_MODE=off`).
    trusted: Option<Trusted>,
}

impl Persisted {
    pub(crate) fn new(apq_capacity: usize, trusted: Option<Trusted>) -> Self {
        Self {
            apq: NonZeroUsize::new(apq_capacity).map(|c| Apq(Mutex::new(LruCache::new(c)))),
            trusted,
        }
    }

    /// The document `request` runs: by its text, or by the hash it sends
    /// instead. Refusals are request errors with their code.
    pub(crate) fn document(
        &self,
        request: &Request,
        documents: &Documents,
    ) -> Result<Arc<Document>, ServerError> {
        let requested = requested_hash(request)?;
        let query = request.query.as_str();
        if let Some(hash) = requested
            && query.is_empty()
        {
            return self.by_hash(hash, documents);
        }
        // Size limits first: an oversized text is not even hashed.
        documents.check_text(query)?;
        let hash = match requested {
            Some(sent) => {
                let hash = documents::hash(query);
                if hash != sent {
                    return Err(bad_input(
                        "provided sha does not match query: `sha256Hash` must be the SHA-256 \
                         of the exact query text",
                    ));
                }
                hash
            }
            None => documents::hash(query),
        };
        // In `only` mode an unlisted text is refused before it is parsed.
        let listed = self.listed(&hash)?;
        if let Some(document) = listed {
            return Ok(document);
        }
        let document = documents.get_hashed(hash, query)?;
        if requested.is_some()
            && let Some(apq) = &self.apq
        {
            apq.register(hash, query);
            counter!(GRAPHQL_PERSISTED_QUERIES_TOTAL, "result" => PERSISTED_REGISTERED)
                .increment(1);
        }
        self.count_untrusted();
        Ok(document)
    }

    /// A hash-only request: the manifest's document, or the one a client
    /// registered.
    fn by_hash(&self, hash: Hash, documents: &Documents) -> Result<Arc<Document>, ServerError> {
        if let Some(document) = self.listed(&hash)? {
            counter!(GRAPHQL_PERSISTED_QUERIES_TOTAL, "result" => PERSISTED_HIT).increment(1);
            return Ok(document);
        }
        let Some(apq) = &self.apq else {
            return Err(codes::error(
                Code::PersistedQueryNotSupported,
                "PersistedQueryNotSupported",
            ));
        };
        let Some(query) = apq.get(&hash) else {
            counter!(GRAPHQL_PERSISTED_QUERIES_TOTAL, "result" => PERSISTED_MISS).increment(1);
            return Err(codes::error(
                Code::PersistedQueryNotFound,
                "PersistedQueryNotFound",
            ));
        };
        counter!(GRAPHQL_PERSISTED_QUERIES_TOTAL, "result" => PERSISTED_HIT).increment(1);
        // Checked when it was registered: the limits have not changed since.
        let document = documents.get_hashed(hash, &query)?;
        self.count_untrusted();
        Ok(document)
    }

    /// The manifest's document for `hash`; `None` when there is no manifest
    /// or it does not list the hash and other documents may run.
    fn listed(&self, hash: &Hash) -> Result<Option<Arc<Document>>, ServerError> {
        match &self.trusted {
            Some(trusted) => trusted.check(hash),
            None => Ok(None),
        }
    }

    fn count_untrusted(&self) {
        if let Some(trusted) = &self.trusted {
            trusted.count_allowed();
        }
    }
}

/// The hash `extensions.persistedQuery` names, if the request has one; an
/// extension that is there but malformed is the client's mistake.
fn requested_hash(request: &Request) -> Result<Option<Hash>, ServerError> {
    let fields = match request.extensions.get("persistedQuery") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(fields)) => fields,
        Some(_) => {
            return Err(bad_input(
                "`extensions.persistedQuery` must be an object with `version` and `sha256Hash`",
            ));
        }
    };
    match fields.get("version") {
        Some(Value::Number(version)) if version.as_u64() == Some(VERSION) => {}
        Some(_) => {
            return Err(bad_input(
                "unsupported persisted query version: `extensions.persistedQuery.version` must be 1",
            ));
        }
        None => {
            return Err(bad_input(
                "`extensions.persistedQuery.version` is required (1)",
            ));
        }
    }
    match fields.get("sha256Hash") {
        Some(Value::String(text)) => parse_hash(text).map(Some).ok_or_else(|| {
            bad_input("`extensions.persistedQuery.sha256Hash` must be 64 hexadecimal digits")
        }),
        _ => Err(bad_input(
            "`extensions.persistedQuery.sha256Hash` is required: the SHA-256 of the query, in hex",
        )),
    }
}

fn bad_input(message: &str) -> ServerError {
    let mut error = codes::error(Code::BadUserInput, message);
    codes::set_extension(&mut error, "field", "extensions.persistedQuery");
    error
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn request(body: serde_json::Value) -> Request {
        serde_json::from_value(body).unwrap()
    }

    fn documents() -> Documents {
        let limits = crate::config::Config::from_lookup(|_| None)
            .unwrap()
            .graphql_limits;
        Documents::new(8, limits, true)
    }

    fn code(error: &ServerError) -> String {
        let extensions = error.extensions.as_ref().unwrap();
        match extensions.get("code") {
            Some(Value::String(code)) => code.clone(),
            other => panic!("no code: {other:?}"),
        }
    }

    fn with_hash(query: Option<&str>, hash: &str) -> Request {
        let mut body =
            json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } } });
        if let Some(query) = query {
            body["query"] = json!(query);
        }
        request(body)
    }

    #[test]
    fn registers_then_serves_by_hash_and_evicts_the_least_recently_used() {
        let documents = documents();
        let persisted = Persisted::new(2, None);
        let hash_of = |q: &str| hex::encode(documents::hash(q));
        let run = |query: Option<&str>, of: &str| {
            persisted.document(&with_hash(query, &hash_of(of)), &documents)
        };

        assert_eq!(
            code(&run(None, "{ a }").err().unwrap()),
            "PERSISTED_QUERY_NOT_FOUND"
        );
        run(Some("{ a }"), "{ a }").unwrap();
        run(None, "{ a }").unwrap();
        run(Some("{ b }"), "{ b }").unwrap();
        // `a` was used last: `b` goes when `c` comes.
        run(None, "{ a }").unwrap();
        run(Some("{ c }"), "{ c }").unwrap();
        assert_eq!(
            code(&run(None, "{ b }").err().unwrap()),
            "PERSISTED_QUERY_NOT_FOUND"
        );
        run(None, "{ a }").unwrap();
        run(None, "{ c }").unwrap();

        let mismatch = run(Some("{ a }"), "{ b }").err().unwrap();
        assert_eq!(code(&mismatch), "BAD_USER_INPUT");
    }

    #[test]
    fn without_apq_a_hash_alone_is_not_supported() {
        let documents = documents();
        let persisted = Persisted::new(0, None);
        let hash = hex::encode(documents::hash("{ a }"));
        let refused = persisted.document(&with_hash(None, &hash), &documents);
        assert_eq!(
            code(&refused.err().unwrap()),
            "PERSISTED_QUERY_NOT_SUPPORTED"
        );
        // The text with its hash still runs (the hash is checked).
        persisted
            .document(&with_hash(Some("{ a }"), &hash), &documents)
            .unwrap();
    }

    #[test]
    fn malformed_extensions_are_bad_input() {
        let documents = documents();
        let persisted = Persisted::new(8, None);
        let hash = hex::encode(documents::hash("{ a }"));
        for extension in [
            json!(5),
            json!("x"),
            json!([]),
            json!({}),
            json!({ "sha256Hash": hash }),
            json!({ "version": 2, "sha256Hash": hash }),
            json!({ "version": "1", "sha256Hash": hash }),
            json!({ "version": 1 }),
            json!({ "version": 1, "sha256Hash": 5 }),
            json!({ "version": 1, "sha256Hash": "zz" }),
        ] {
            let r =
                request(json!({ "query": "{ a }", "extensions": { "persistedQuery": extension } }));
            let error = persisted.document(&r, &documents).err().unwrap();
            assert_eq!(code(&error), "BAD_USER_INPUT", "{extension}");
        }
        let null = request(json!({ "query": "{ a }", "extensions": { "persistedQuery": null } }));
        persisted.document(&null, &documents).unwrap();
    }
}
