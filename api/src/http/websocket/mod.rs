//! GraphQL over WebSocket (`graphql-transport-ws`, and the legacy
//! `graphql-ws` of subscriptions-transport-ws). async-graphql runs the
//! protocol; this module stands between it and the socket to enforce what the
//! protocol demands and async-graphql leaves out: close codes for protocol
//! violations, a connection-init deadline, a cap on running operations,
//! server pings, and a clean close frame when the server shuts down.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_graphql::Data;
use async_graphql::http::{WebSocket as GraphQLSession, WebSocketProtocols, WsMessage};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use axum::http::{HeaderMap, header};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use super::throttle::Throttle;
use crate::auth::Authenticator;
use crate::graphql::Engine;
use crate::rate_limit::ClientKey;
use crate::server::HttpLimits;
use crate::service::Owner;
use guard::{Guard, Verdict};

mod guard;

/// Close codes of graphql-transport-ws, plus the standard "going away".
mod close {
    pub const FORBIDDEN: u16 = 4403;
    pub const GOING_AWAY: u16 = 1001;
    pub const POLICY: u16 = 1008;
    pub const BAD_REQUEST: u16 = 4400;
    pub const UNAUTHORIZED: u16 = 4401;
    pub const INIT_TIMEOUT: u16 = 4408;
    pub const DUPLICATE_ID: u16 = 4409;
}

/// Client messages waiting for async-graphql. The session drains them every
/// turn of the loop; a client that still fills this is flooding.
const INBOX: usize = 64;

/// A peer that sends nothing (not even a pong) for this many keep-alive
/// intervals is gone.
const MISSED_PINGS_BEFORE_CLOSE: u32 = 3;

/// The first subprotocol the client offers that we speak.
pub fn negotiate(headers: &HeaderMap) -> Option<WebSocketProtocols> {
    headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)?
        .to_str()
        .ok()?
        .split(',')
        .find_map(|p| WebSocketProtocols::from_str(p.trim()).ok())
}

/// The moment a token's `exp` falls on, as a timer deadline.
fn instant_of(at: SystemTime) -> Instant {
    let left = at.duration_since(SystemTime::now()).unwrap_or_default();
    Instant::now() + left
}

async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

fn close_message(code: u16, reason: &str) -> Message {
    // A close reason may hold at most 123 bytes.
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from(&reason[..end]),
    }))
}

/// Runs one GraphQL WebSocket session until either side ends it.
pub async fn serve(
    socket: WebSocket,
    engine: Engine,
    auth: Arc<Authenticator>,
    protocol: WebSocketProtocols,
    limits: HttpLimits,
    throttle: Option<Throttle>,
    shutdown: CancellationToken,
) {
    let (mut sink, mut source) = socket.split();
    let (to_session, from_client) = mpsc::channel::<Vec<u8>>(INBOX);
    // Who the socket is, once its `connection_init` was authenticated
    // (below, before async-graphql sees the message): every operation on
    // the socket runs as that owner.
    let signed_in: Arc<Mutex<Option<Owner>>> = Arc::default();
    let mut session = GraphQLSession::new(engine, ReceiverStream::new(from_client), protocol)
        .on_connection_init({
            let signed_in = signed_in.clone();
            move |_payload| async move {
                let mut data = Data::default();
                if let Some(owner) = signed_in.lock().ok().and_then(|mut o| o.take()) {
                    data.insert(owner);
                }
                Ok(data)
            }
        });
    // When its token expires (exp plus AUTH_LEEWAY_SECS, as HTTP accepts
    // it), a socket is closed: a subscription never outlives its token (the
    // client reconnects with a fresh one).
    let mut token_expiry: Option<Instant> = None;
    let mut guard = Guard::new(protocol, limits.ws_max_subscriptions, throttle);
    let opened = Instant::now();
    let init_deadline = tokio::time::sleep_until(opened + limits.ws_init_timeout);
    tokio::pin!(init_deadline);
    let mut pings = tokio::time::interval_at(opened + limits.ws_keepalive, limits.ws_keepalive);
    pings.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_heard = opened;
    let silence_limit = limits.ws_keepalive * MISSED_PINGS_BEFORE_CLOSE;

    let closing: Option<Message> = loop {
        tokio::select! {
            () = shutdown.cancelled() => {
                break Some(close_message(close::GOING_AWAY, "server shutting down"));
            }
            () = &mut init_deadline, if !guard.init_received => {
                break Some(close_message(close::INIT_TIMEOUT, "Connection initialisation timeout"));
            }
            () = sleep_until_some(token_expiry), if token_expiry.is_some() => {
                break Some(close_message(close::FORBIDDEN, "Forbidden: the token expired"));
            }
            _ = pings.tick() => {
                if last_heard.elapsed() >= silence_limit {
                    tracing::debug!("closing a silent WebSocket");
                    break None;
                }
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    break None;
                }
                // The legacy protocol's own keep-alive message.
                if protocol == WebSocketProtocols::SubscriptionsTransportWS
                    && sink.send(Message::Text(r#"{"type":"ka"}"#.into())).await.is_err()
                {
                    break None;
                }
            }
            frame = source.next() => {
                last_heard = Instant::now();
                let text = match frame {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break None,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Binary(_))) => {
                        break Some(close_message(close::BAD_REQUEST, "Binary frames are not supported"));
                    }
                    Some(Ok(Message::Text(text))) => text,
                };
                let verdict = match guard.on_client_text(text.as_str()) {
                    Verdict::Init(payload) => match auth.authenticate_init(payload.as_ref()).await {
                        Ok(identity) => {
                            token_expiry = identity.accepted_until.map(instant_of);
                            // Signed in, the owner is the client.
                            if auth.requires_tokens()
                                && let Some(throttle) = &mut guard.throttle
                            {
                                throttle.key = ClientKey::Owner(identity.owner.clone());
                            }
                            if let Ok(mut owner) = signed_in.lock() {
                                *owner = Some(identity.owner);
                            }
                            Verdict::Forward
                        }
                        Err(err) => {
                            tracing::debug!(reason = %err, "refused a WebSocket without a valid token");
                            Verdict::Close(close::FORBIDDEN, "Forbidden".into())
                        }
                    },
                    other => other,
                };
                match verdict {
                    // Never await here: the session is only polled by this loop.
                    Verdict::Forward => match to_session.try_send(text.as_bytes().to_vec()) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            break Some(close_message(close::POLICY, "Too many messages"));
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => break None,
                    },
                    Verdict::Reply(reply) => {
                        if sink.send(Message::Text(reply.into())).await.is_err() {
                            break None;
                        }
                    }
                    Verdict::Close(code, reason) => break Some(close_message(code, &reason)),
                    // Turned into one of the above just before.
                    Verdict::Init(_) => {}
                }
            }
            outgoing = session.next() => match outgoing {
                Some(WsMessage::Text(text)) => {
                    if let Some(text) = guard.on_server_text(text)
                        && sink.send(Message::Text(text.into())).await.is_err()
                    {
                        break None;
                    }
                }
                Some(WsMessage::Close(code, reason)) => break Some(close_message(code, &reason)),
                None => break Some(close_message(1000, "")),
            },
        }
    };
    if let Some(message) = closing {
        // Best effort: the peer may already be gone.
        let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(message)).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_reasons_fit_a_frame() {
        let long = "é".repeat(100);
        let Message::Close(Some(frame)) = close_message(4400, &long) else {
            panic!("not a close frame");
        };
        assert!(frame.reason.as_str().len() <= 123);
    }
}
