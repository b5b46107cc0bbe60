//! Sign-in's settings: the keys tokens are checked against, and what a
//! token must say.

use clap::Args;

use crate::config::values::{Optional, Secret, parse_optional, parse_secret};

/// Sign-in with bearer tokens; none of the key settings: single-user mode.
/// Turning sign-in on leaves the rows of single-user mode with the built-in
/// owner, out of every token's reach, until `api transfer-owner` moves them.
#[derive(Debug, Clone, Args)]
pub(crate) struct AuthSettings {
    /// HS256 secret (at least 32 bytes) that tokens are signed with. With
    /// any key setting, the rows written without sign-in stay the built-in
    /// owner's, invisible to tokens, until `api transfer-owner --to SUBJECT`.
    #[arg(long = "auth-jwt-secret", env = "AUTH_JWT_SECRET", value_name = "AUTH_JWT_SECRET",
          default_value = "", value_parser = parse_secret, hide_env_values = true,
          hide_default_value = true)]
    pub(crate) jwt_secret: Secret,
    /// An identity provider's JWK set (RS256, ES256, EdDSA keys by kid):
    /// fetched at start, fetched again for an unknown kid (at most once a minute).
    #[arg(long = "auth-jwks-url", env = "AUTH_JWKS_URL", value_name = "AUTH_JWKS_URL",
          default_value = "", value_parser = parse_optional)]
    pub(crate) jwks_url: Optional,
    /// The same kind of JWK set, from a file.
    #[arg(long = "auth-jwks-file", env = "AUTH_JWKS_FILE", value_name = "AUTH_JWKS_FILE",
          default_value = "", value_parser = parse_optional)]
    pub(crate) jwks_file: Optional,
    /// Required `iss` of tokens, if set.
    #[arg(long = "auth-issuer", env = "AUTH_ISSUER", value_name = "AUTH_ISSUER",
          default_value = "", value_parser = parse_optional)]
    pub(crate) issuer: Optional,
    /// Required `aud` of tokens, if set.
    #[arg(long = "auth-audience", env = "AUTH_AUDIENCE", value_name = "AUTH_AUDIENCE",
          default_value = "", value_parser = parse_optional)]
    pub(crate) audience: Optional,
    /// Seconds of clock skew allowed on `exp` and `nbf`; an open WebSocket
    /// is closed when its token's `exp` plus this has passed.
    #[arg(long = "auth-leeway-secs", env = "AUTH_LEEWAY_SECS", value_name = "AUTH_LEEWAY_SECS",
          default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub(crate) leeway_secs: u64,
}
