//! The engine's settings: limits on documents (checked in `limits.rs`) and
//! persisted documents (`persisted.rs`, `trusted.rs`).

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args};

use crate::config::values::{Optional, parse_limit, parse_optional};

/// Abuse limits on GraphQL documents, checked before anything runs.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct GraphqlLimits {
    /// Nesting of selection sets.
    #[arg(long = "graphql-max-depth", env = "GRAPHQL_MAX_DEPTH", value_name = "GRAPHQL_MAX_DEPTH", default_value = "10",
          value_parser = parse_limit)]
    pub(crate) max_depth: usize,
    /// Each field costs 1; a connection costs its page size (first/last,
    /// default 20) times its selection.
    #[arg(long = "graphql-max-complexity", env = "GRAPHQL_MAX_COMPLEXITY", value_name = "GRAPHQL_MAX_COMPLEXITY", default_value = "5000",
          value_parser = parse_limit)]
    pub(crate) max_complexity: usize,
    /// Nesting the parser accepts (fragments, lists, objects).
    #[arg(long = "graphql-max-recursive-depth", env = "GRAPHQL_MAX_RECURSIVE_DEPTH", value_name = "GRAPHQL_MAX_RECURSIVE_DEPTH",
          default_value = "32", value_parser = parse_limit)]
    pub(crate) max_recursive_depth: usize,
    /// Directives on one field.
    #[arg(long = "graphql-max-directives", env = "GRAPHQL_MAX_DIRECTIVES", value_name = "GRAPHQL_MAX_DIRECTIVES", default_value = "10",
          value_parser = parse_limit)]
    pub(crate) max_directives: usize,
    /// Aliases in the whole document.
    #[arg(long = "graphql-max-aliases", env = "GRAPHQL_MAX_ALIASES", value_name = "GRAPHQL_MAX_ALIASES", default_value = "30",
          value_parser = parse_limit)]
    pub(crate) max_aliases: usize,
    /// Fields selected at the root of an operation.
    #[arg(long = "graphql-max-root-fields", env = "GRAPHQL_MAX_ROOT_FIELDS", value_name = "GRAPHQL_MAX_ROOT_FIELDS", default_value = "20",
          value_parser = parse_limit)]
    pub(crate) max_root_fields: usize,
    /// Size of the query text in bytes.
    #[arg(long = "graphql-max-document-bytes", env = "GRAPHQL_MAX_DOCUMENT_BYTES", value_name = "GRAPHQL_MAX_DOCUMENT_BYTES",
          default_value = "16384", value_parser = parse_limit)]
    pub(crate) max_document_bytes: usize,
    /// Lexical tokens in the query text.
    #[arg(long = "graphql-max-tokens", env = "GRAPHQL_MAX_TOKENS", value_name = "GRAPHQL_MAX_TOKENS", default_value = "2000",
          value_parser = parse_limit)]
    pub(crate) max_tokens: usize,
    /// Operations in one batched HTTP request.
    #[arg(long = "graphql-max-batch", env = "GRAPHQL_MAX_BATCH", value_name = "GRAPHQL_MAX_BATCH", default_value = "10",
          value_parser = parse_limit)]
    pub(crate) max_batch: usize,
    /// `__schema`/`__type` queries, and the SDL at GET /schema.graphql (404
    /// while off). Default: on in development, off in production.
    #[arg(long = "graphql-introspection", env = "GRAPHQL_INTROSPECTION", value_name = "GRAPHQL_INTROSPECTION", action = ArgAction::Set,
          value_parser = BoolishValueParser::new())]
    pub(crate) introspection: Option<bool>,
    /// "Did you mean ...?" hints in validation errors. Default: as introspection.
    #[arg(long = "graphql-suggestions", env = "GRAPHQL_SUGGESTIONS", value_name = "GRAPHQL_SUGGESTIONS", action = ArgAction::Set,
          value_parser = BoolishValueParser::new())]
    pub(crate) suggestions: Option<bool>,
}

/// Persisted documents: automatic persisted queries (APQ) and a manifest of
/// trusted documents.
#[derive(Debug, Clone, Args)]
pub(crate) struct PersistedSettings {
    /// Documents registered by hash (automatic persisted queries) that each
    /// replica keeps, least recently used dropped first; 0 turns APQ off.
    #[arg(long = "apq-cache-size", env = "APQ_CACHE_SIZE", value_name = "APQ_CACHE_SIZE", default_value = "1000",
          value_parser = parse_cache_size)]
    pub(crate) apq_cache_size: usize,
    /// A JSON manifest of trusted documents (sha256 hash -> document), as
    /// @graphql-codegen/client-preset writes with persistedDocuments.
    #[arg(long = "trusted-documents", env = "TRUSTED_DOCUMENTS", value_name = "TRUSTED_DOCUMENTS",
          default_value = "", value_parser = parse_optional)]
    pub(crate) manifest: Optional,
    /// off, allow (other documents run and are counted) or only (other
    /// documents are refused). Default: allow with a manifest, else off.
    #[arg(
        long = "trusted-documents-mode",
        env = "TRUSTED_DOCUMENTS_MODE",
        value_name = "TRUSTED_DOCUMENTS_MODE",
        value_enum,
        ignore_case = true
    )]
    pub(crate) mode: Option<TrustedMode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum TrustedMode {
    Off,
    Allow,
    Only,
}

impl PersistedSettings {
    pub(crate) fn trusted_mode(&self) -> TrustedMode {
        self.mode.unwrap_or(if self.manifest.0.is_some() {
            TrustedMode::Allow
        } else {
            TrustedMode::Off
        })
    }
}

/// A number of cache entries: 0 (off) up to a million.
fn parse_cache_size(value: &str) -> Result<usize, String> {
    value
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|n| *n <= 1_000_000)
        .ok_or_else(|| "expected a whole number from 0 (off) to 1000000".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::from_pairs as config;

    #[test]
    fn persisted_documents_settings() {
        let c = config(&[]).unwrap();
        assert_eq!(c.persisted.apq_cache_size, 1000);
        assert_eq!(c.persisted.trusted_mode(), TrustedMode::Off);
        let c = config(&[
            ("TRUSTED_DOCUMENTS", "manifest.json"),
            ("APQ_CACHE_SIZE", "0"),
        ])
        .unwrap();
        assert_eq!(c.persisted.apq_cache_size, 0);
        assert_eq!(c.persisted.trusted_mode(), TrustedMode::Allow);
        let c = config(&[("TRUSTED_DOCUMENTS_MODE", "ONLY")]).unwrap();
        assert_eq!(c.persisted.trusted_mode(), TrustedMode::Only);
        for (var, bad) in [
            ("APQ_CACHE_SIZE", "-1"),
            ("APQ_CACHE_SIZE", "1000001"),
            ("APQ_CACHE_SIZE", "lots"),
            ("TRUSTED_DOCUMENTS_MODE", "strict"),
        ] {
            assert_eq!(config(&[(var, bad)]).unwrap_err().var, var, "{var}={bad}");
        }
    }
}
