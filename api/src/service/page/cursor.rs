//! Cursors: the sort-key values of the row a cursor points at, with a
//! signature of the order it was made for, as opaque base64url JSON.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sea_orm::prelude::Uuid;
use serde::{Deserialize, Serialize};

use super::{Direction, SortKey};
use crate::error::{AppError, AppResult};

/// One value of a sort key, as kept in a cursor.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum KeyValue {
    Null,
    Int(i64),
    Text(String),
}

impl KeyValue {
    pub(crate) fn time(t: &DateTime<Utc>) -> Self {
        Self::Text(t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
    }

    pub(crate) fn opt_time(t: &Option<DateTime<Utc>>) -> Self {
        t.as_ref().map_or(Self::Null, Self::time)
    }

    pub(crate) fn uuid(id: &Uuid) -> Self {
        Self::Text(id.to_string())
    }

    /// A float exactly as the engine returned it: the shortest text that
    /// reads back as the same `f64` (JSON numbers need not round-trip).
    pub(crate) fn float(f: f64) -> Self {
        Self::Text(format!("{f:e}"))
    }
}

pub(crate) fn signature<M>(keys: &[SortKey<M>]) -> String {
    keys.iter()
        .map(|k| {
            format!(
                "{}{}",
                k.kind as u8,
                if k.direction == Direction::Asc {
                    'a'
                } else {
                    'd'
                }
            )
        })
        .collect::<Vec<_>>()
        .join(".")
}

#[derive(Serialize, Deserialize)]
struct CursorBody {
    s: String,
    v: Vec<KeyValue>,
}

pub(crate) fn encode_cursor(signature: &str, values: Vec<KeyValue>) -> String {
    let body = CursorBody {
        s: signature.to_owned(),
        v: values,
    };
    // Serialising plain strings and integers cannot fail.
    let json = serde_json::to_vec(&body).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

pub(super) fn decode_cursor(
    field: &str,
    cursor: Option<&str>,
    signature: &str,
) -> AppResult<Option<Vec<KeyValue>>> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    let invalid = || AppError::bad_input(field, format!("`{field}` is not a valid cursor"));
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let body: CursorBody = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if body.s != signature {
        return Err(AppError::bad_input(
            field,
            format!("`{field}` was made for another `orderBy`"),
        ));
    }
    Ok(Some(body.v))
}
