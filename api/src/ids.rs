//! Relay global ids: opaque to clients, unique across types. Shared by the
//! GraphQL schema and the events published to other services.

use async_graphql::ID;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::prelude::Uuid;

use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Task,
    Category,
}

impl NodeKind {
    fn prefix(self) -> &'static str {
        match self {
            Self::Task => "Task",
            Self::Category => "Category",
        }
    }
}

pub fn encode(kind: NodeKind, id: Uuid) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("{}:{}", kind.prefix(), id.simple())))
}

/// Any node id: its kind and database id.
pub(crate) fn decode_any(id: &str, field: &str) -> AppResult<(NodeKind, Uuid)> {
    let invalid = || AppError::bad_input(field, format!("`{field}` is not a valid id"));
    let raw = URL_SAFE_NO_PAD.decode(id.trim()).map_err(|_| invalid())?;
    let text = std::str::from_utf8(&raw).map_err(|_| invalid())?;
    let (prefix, uuid) = text.split_once(':').ok_or_else(invalid)?;
    let kind = match prefix {
        "Task" => NodeKind::Task,
        "Category" => NodeKind::Category,
        _ => return Err(invalid()),
    };
    let uuid = Uuid::try_parse(uuid).map_err(|_| invalid())?;
    Ok((kind, uuid))
}

/// An id that must name a node of `kind`.
pub fn decode(id: &str, kind: NodeKind, field: &str) -> AppResult<Uuid> {
    match decode_any(id, field)? {
        (k, uuid) if k == kind => Ok(uuid),
        _ => Err(AppError::bad_input(
            field,
            format!("`{field}` must be a {} id", kind.prefix()),
        )),
    }
}

pub(crate) fn decode_all(ids: &[ID], kind: NodeKind, field: &str) -> AppResult<Vec<Uuid>> {
    ids.iter().map(|id| decode(id, kind, field)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_foreign_kinds() {
        let uuid = Uuid::now_v7();
        let id = encode(NodeKind::Task, uuid);
        assert_eq!(decode(&id, NodeKind::Task, "id").unwrap(), uuid);
        let err = decode(&id, NodeKind::Category, "id").unwrap_err();
        assert_eq!(err.code(), "BAD_USER_INPUT");
        assert_ne!(encode(NodeKind::Category, uuid), id);
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "x", "VGFzazpub3QtYS11dWlk", "!!!", "VGFzaw"] {
            assert!(decode_any(bad, "id").is_err(), "{bad}");
        }
    }
}
