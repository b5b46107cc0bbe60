//! Trusted documents: a manifest of the documents this service's own
//! clients send (`TRUSTED_DOCUMENTS`, the JSON map of SHA-256 hash to
//! document that @graphql-codegen/client-preset writes with
//! `persistedDocuments: true`), read and parsed once at start.
//!
//! In `allow` mode other documents still run and are counted; in `only` mode
//! they are refused by the hash of their text, before the parser sees them,
//! so an unknown client cannot spend the server's time on documents its
//! authors never wrote. Listed documents are persisted documents too: a
//! request may send only the hash.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::ServerError;
use metrics::counter;

use super::codes::{self, Code};
use super::documents::{self, Document, Documents, Hash, parse_hash};
use super::settings::{PersistedSettings, TrustedMode};
use crate::metrics::{GRAPHQL_UNTRUSTED_DOCUMENTS_TOTAL, UNTRUSTED_REFUSED, UNTRUSTED_RUN};

/// Why the manifest could not be used; the start stops with it.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {reason}")]
pub struct TrustedDocumentsError {
    pub(crate) var: &'static str,
    pub(crate) reason: String,
}

pub(crate) struct Trusted {
    /// `only` mode: nothing else runs.
    only: bool,
    documents: HashMap<Hash, Arc<Document>>,
}

impl Trusted {
    /// The manifest the settings name, parsed; `None` when the mode is off.
    pub(crate) fn load(
        settings: &PersistedSettings,
        parser: &Documents,
    ) -> Result<Option<Self>, TrustedDocumentsError> {
        let mode = settings.trusted_mode();
        let path = match (mode, &settings.manifest.0) {
            (TrustedMode::Off, _) => return Ok(None),
            (_, Some(path)) => path,
            (_, None) => {
                return Err(TrustedDocumentsError {
                    var: "TRUSTED_DOCUMENTS_MODE",
                    reason: "allow and only need TRUSTED_DOCUMENTS, the manifest to trust".into(),
                });
            }
        };
        let invalid = |reason: String| TrustedDocumentsError {
            var: "TRUSTED_DOCUMENTS",
            reason,
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| invalid(format!("cannot read {path}: {e}")))?;
        let manifest: HashMap<String, String> = serde_json::from_str(&text).map_err(|e| {
            invalid(format!(
                "{path} is not a JSON object of sha256 hash to document: {e}"
            ))
        })?;
        if manifest.is_empty() {
            return Err(invalid(format!("{path} lists no documents")));
        }
        let mut documents = HashMap::with_capacity(manifest.len());
        for (key, query) in manifest {
            let hash = parse_hash(&key).ok_or_else(|| {
                invalid(format!(
                    "{path}: {key:?} is not a sha256 hash (64 hex digits, `sha256:` allowed before)"
                ))
            })?;
            if documents::hash(&query) != hash {
                return Err(invalid(format!(
                    "{path}: the document under {key} is not what hashes to it; each key must \
                     be the SHA-256 of its document's exact text"
                )));
            }
            let document = parser.parse(&query).map_err(|e| {
                invalid(format!(
                    "{path}: the document under {key} cannot run here: {}",
                    e.message
                ))
            })?;
            if let Some(refusal) = &document.refusal {
                // Kept: it is refused when sent, as it would be without the manifest.
                tracing::warn!(hash = %key, reason = %refusal.message, "a trusted document breaks a limit");
            }
            documents.insert(hash, Arc::new(document));
        }
        tracing::info!(
            documents = documents.len(),
            only = mode == TrustedMode::Only,
            manifest = %path,
            "trusted documents loaded"
        );
        Ok(Some(Self {
            only: mode == TrustedMode::Only,
            documents,
        }))
    }

    /// The listed document for `hash`; `None` when it is not listed but may
    /// run anyway (`allow`); a refusal in `only` mode.
    pub(crate) fn check(&self, hash: &Hash) -> Result<Option<Arc<Document>>, ServerError> {
        if let Some(document) = self.documents.get(hash) {
            return Ok(Some(document.clone()));
        }
        if self.only {
            counter!(GRAPHQL_UNTRUSTED_DOCUMENTS_TOTAL, "mode" => UNTRUSTED_REFUSED).increment(1);
            return Err(codes::error(
                Code::PersistedQueryNotTrusted,
                "only trusted documents run on this server, and this one is not in its manifest",
            ));
        }
        Ok(None)
    }

    /// An unlisted document is about to run (`allow` mode).
    pub(crate) fn count_allowed(&self) {
        counter!(GRAPHQL_UNTRUSTED_DOCUMENTS_TOTAL, "mode" => UNTRUSTED_RUN).increment(1);
    }
}
