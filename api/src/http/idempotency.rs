//! `Idempotency-Key` on POST /graphql (Stripe's semantics; the IETF httpapi
//! draft): a request that names a key runs once per owner and key while
//! the key is remembered (`IDEMPOTENCY_KEY_TTL_HOURS`); a repeat with the
//! same body gets the stored response with `Idempotent-Replayed: true`.
//! See [`crate::service::idempotency`] for how the table is the lock.

use std::time::Duration;

use async_graphql::BatchRequest;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sea_orm::DatabaseConnection;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::responses::error_response;
use super::state::SharedState;
use crate::error::AppError;
use crate::graphql::Engine;
use crate::service::idempotency::{self, Claim, Stored};

pub(crate) const HEADER: &str = "idempotency-key";
pub(crate) const REPLAYED: &str = "idempotent-replayed";
/// The longest key (in bytes) a client may send.
pub(crate) const MAX_KEY_BYTES: usize = 255;
/// How often expired keys are deleted.
const EXPIRY_EVERY: Duration = Duration::from_secs(60);

/// The request's key: none, or 1 to 255 printable ASCII characters (a
/// refusal says what is wrong).
pub(crate) fn key(headers: &HeaderMap) -> Result<Option<String>, String> {
    let mut values = headers.get_all(HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("send one Idempotency-Key header, not several".into());
    }
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_KEY_BYTES {
        return Err(format!(
            "the Idempotency-Key must be 1 to {MAX_KEY_BYTES} characters long"
        ));
    }
    if !bytes.iter().all(|b| (0x20..=0x7e).contains(b)) {
        return Err("the Idempotency-Key must be printable ASCII".into());
    }
    String::from_utf8(bytes.to_vec())
        .map(Some)
        .map_err(|_| "the Idempotency-Key must be printable ASCII".into())
}

/// Whether a key applies: to a batch holding a mutation. A document sent
/// by hash alone may be one, so it counts; a document that does not parse
/// changes nothing and runs without.
pub(crate) fn applies(engine: &Engine, batch: &BatchRequest) -> bool {
    let requests: Vec<&async_graphql::Request> = match batch {
        BatchRequest::Single(request) => vec![request],
        BatchRequest::Batch(requests) => requests.iter().collect(),
    };
    requests
        .into_iter()
        .any(|request| request.query.trim().is_empty() || engine.has_mutation(&request.query))
}

/// A refusal of a request with a bad key.
pub(crate) fn bad_key(media: &'static str, message: &str) -> Response {
    error_response(StatusCode::BAD_REQUEST, media, message, "BAD_USER_INPUT")
}

/// Runs `batch` (the body `body`) once for `owner`'s `key`, or answers as
/// the key's earlier use says.
pub(crate) async fn run(
    state: &SharedState,
    owner: String,
    key: String,
    body: &[u8],
    batch: BatchRequest,
    media: &'static str,
) -> Response {
    let hash = hex(&Sha256::digest(body));
    let ttl = state.config.idempotency_key_ttl;
    let claim = match idempotency::claim(&state.db, &owner, &key, &hash, ttl).await {
        Ok(claim) => claim,
        Err(err) => return failure(&err, media),
    };
    match claim {
        Claim::Replay(stored) => replay(stored),
        Claim::Reused => error_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            media,
            "this Idempotency-Key was used with another request body; use a new key",
            "IDEMPOTENCY_KEY_REUSED",
        ),
        Claim::InFlight => {
            let mut response = error_response(
                StatusCode::CONFLICT,
                media,
                "a request with this Idempotency-Key is still running; retry shortly",
                "CONFLICT",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
        Claim::Claimed(claim) => {
            // A task of its own: a client that goes away (or the request
            // timeout) cannot stop it between the change and storing its
            // answer.
            let state = state.clone();
            let task = tokio::spawn(async move {
                let response = super::execute::execute(&state, batch, media).await;
                finish(&state.db, &owner, &key, claim, response).await
            });
            match task.await {
                Ok(response) => response,
                Err(join) => {
                    tracing::error!(error = %join, "an idempotent request's task failed");
                    error_response(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        media,
                        "internal error",
                        "INTERNAL",
                    )
                }
            }
        }
    }
}

/// Stores `response` under the claim, or releases the key when the answer
/// is worth a retry (the server's fault, not the request's).
async fn finish(
    db: &DatabaseConnection,
    owner: &str,
    key: &str,
    claim: sea_orm::prelude::Uuid,
    response: Response,
) -> Response {
    let (parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(err) => {
            tracing::error!(error = %err, "reading a response to store failed");
            if let Err(err) = idempotency::release(db, owner, key, claim).await {
                tracing::warn!(error = %err, "releasing an idempotency key failed");
            }
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_owned();
    let text = std::str::from_utf8(&bytes).ok();
    let outcome = match text {
        Some(text) if !worth_a_retry(parts.status, text) => {
            let stored = Stored {
                status: parts.status.as_u16(),
                content_type,
                body: text.to_owned(),
            };
            idempotency::complete(db, owner, key, claim, &stored)
                .await
                .map(|_| ())
        }
        _ => idempotency::release(db, owner, key, claim).await,
    };
    if let Err(err) = outcome {
        // The answer stands; the key is taken over once its claim is stale.
        tracing::warn!(error = %err, "recording an idempotent request's answer failed");
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Codes that say nothing about the request: a retry may well succeed.
const TRANSIENT: [&str; 2] = ["INTERNAL", "SERVICE_UNAVAILABLE"];

/// A 5xx, an answer that is not JSON, or any error coded INTERNAL or
/// SERVICE_UNAVAILABLE (in any operation of a batch).
fn worth_a_retry(status: StatusCode, body: &str) -> bool {
    if status.is_server_error() {
        return true;
    }
    let Ok(value) = serde_json::from_str::<serde_json::Value>(body) else {
        return true;
    };
    let responses = match &value {
        serde_json::Value::Array(items) => items.iter().collect(),
        single => vec![single],
    };
    responses.into_iter().any(|response| {
        response["errors"].as_array().is_some_and(|errors| {
            errors.iter().any(|error| {
                error["extensions"]["code"]
                    .as_str()
                    .is_some_and(|code| TRANSIENT.contains(&code))
            })
        })
    })
}

fn replay(stored: Stored) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let content_type = HeaderValue::from_str(&stored.content_type)
        .unwrap_or(HeaderValue::from_static("application/json"));
    let mut response = (status, Body::from(stored.body)).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    response
        .headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    response
}

fn failure(err: &AppError, media: &'static str) -> Response {
    let status = match err {
        AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if matches!(err, AppError::Internal(_)) {
        tracing::error!(error = %err, "claiming an idempotency key failed");
    }
    let message = match err {
        AppError::Internal(_) => "internal error".to_owned(),
        other => other.to_string(),
    };
    error_response(status, media, &message, err.code())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// Deletes expired keys, and each owner's oldest beyond the cap, every
/// minute until `shutdown`.
pub(crate) fn start_expiry(db: DatabaseConnection, ttl: Duration, shutdown: &CancellationToken) {
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        // The first pass a period after start, not while the replica starts.
        let mut tick =
            tokio::time::interval_at(tokio::time::Instant::now() + EXPIRY_EVERY, EXPIRY_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let expired = tokio::select! {
                // Shutdown closes the pool: a pass cut short is no failure.
                () = shutdown.cancelled() => return,
                expired = idempotency::expire(&db, ttl, idempotency::MAX_KEYS_PER_OWNER) => expired,
            };
            match expired {
                Ok(0) => {}
                Ok(n) => tracing::debug!(deleted = n, "expired idempotency keys"),
                Err(_) if shutdown.is_cancelled() => return,
                Err(err) => {
                    tracing::warn!(error = %err, "deleting expired idempotency keys failed; retrying later");
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_one_to_255_printable_ascii_characters() {
        let of = |v: &[u8]| {
            let mut headers = HeaderMap::new();
            headers.insert(HEADER, HeaderValue::from_bytes(v).expect("a header value"));
            key(&headers)
        };
        assert_eq!(key(&HeaderMap::new()), Ok(None));
        assert_eq!(of(b"a"), Ok(Some("a".into())));
        assert_eq!(of(b"order 42/x~"), Ok(Some("order 42/x~".into())));
        assert!(of(&[b'k'; 255]).is_ok());
        for bad in [&b""[..], &[b'k'; 256], b"caf\xc3\xa9", b"tab\there"] {
            assert!(of(bad).is_err(), "{bad:?}");
        }
        let mut two = HeaderMap::new();
        two.append(HEADER, HeaderValue::from_static("a"));
        two.append(HEADER, HeaderValue::from_static("b"));
        assert!(key(&two).is_err());
    }

    #[test]
    fn only_server_faults_are_worth_a_retry() {
        let ok = StatusCode::OK;
        assert!(!worth_a_retry(ok, r#"{"data":{"x":1}}"#));
        assert!(!worth_a_retry(
            ok,
            r#"{"data":null,"errors":[{"extensions":{"code":"BAD_USER_INPUT"}}]}"#
        ));
        assert!(worth_a_retry(
            ok,
            r#"{"data":null,"errors":[{"extensions":{"code":"INTERNAL"}}]}"#
        ));
        assert!(worth_a_retry(
            ok,
            r#"[{"data":{}},{"errors":[{"extensions":{"code":"SERVICE_UNAVAILABLE"}}]}]"#
        ));
        assert!(worth_a_retry(StatusCode::SERVICE_UNAVAILABLE, "{}"));
        assert!(worth_a_retry(ok, "not json"));
    }
}
