//! What one connection is doing, for its timeouts and for how it closes.
//!
//! A connection is reading a request head, busy with requests, idle between
//! them, or upgraded (a WebSocket). Its socket, its service and its
//! watchdog share this record: the watchdog closes a connection whose
//! client takes longer than `HTTP_HEADER_READ_TIMEOUT_SECS` to send a
//! request head (counted from the head's first byte, or from the
//! connection's start), or that stays idle longer than
//! `HTTP_KEEPALIVE_TIMEOUT_SECS`. Hyper's own header-read timeout cannot do
//! both: it is armed as soon as a connection goes idle, so it would be the
//! idle timeout too. Requests in progress are never timed out here (the
//! request timeout is `/graphql`'s), nor upgraded connections (WebSockets
//! have their pings).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::sync::Notify;
use tokio::time::Instant;

const HEAD: u8 = 0;
const IDLE: u8 = 1;
const BUSY: u8 = 2;
const UPGRADED: u8 = 3;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub(crate) header_read: Duration,
    pub(crate) idle: Duration,
}

/// Why the watchdog closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expired {
    Headers,
    Idle,
}

impl Expired {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Headers => crate::metrics::TIMED_OUT_HEADERS,
            Self::Idle => crate::metrics::TIMED_OUT_IDLE,
        }
    }
}

pub(crate) struct Activity {
    origin: Instant,
    phase: AtomicU8,
    /// When the phase began, in nanoseconds after `origin`.
    since: AtomicU64,
    /// Requests whose responses are not finished.
    busy: AtomicU32,
    /// The last request's body was not read to its end.
    unread_body: AtomicBool,
    changed: Notify,
}

impl Activity {
    /// A new connection: its first request head is due.
    pub(crate) fn new() -> Self {
        Self {
            origin: Instant::now(),
            phase: AtomicU8::new(HEAD),
            since: AtomicU64::new(0),
            busy: AtomicU32::new(0),
            unread_body: AtomicBool::new(false),
            changed: Notify::new(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn enter(&self, phase: u8) {
        self.since.store(self.now(), Relaxed);
        self.phase.store(phase, Relaxed);
        self.changed.notify_one();
    }

    /// Bytes arrived: on an idle connection, a request head has begun.
    pub(crate) fn on_read(&self) {
        if self.phase.load(Relaxed) == IDLE {
            self.enter(HEAD);
        }
    }

    /// A request head was read; the response is on its way until the
    /// returned guard is dropped.
    pub(crate) fn on_request(self: &Arc<Self>, has_body: bool) -> Busy {
        self.busy.fetch_add(1, Relaxed);
        if self.phase.load(Relaxed) != UPGRADED {
            self.phase.store(BUSY, Relaxed);
        }
        self.unread_body.store(has_body, Relaxed);
        Busy(self.clone())
    }

    /// The connection now carries another protocol (a WebSocket).
    pub(crate) fn on_upgrade(&self) {
        self.enter(UPGRADED);
    }

    /// Whether the server answered without reading the last request's body
    /// (a refusal): then the client may still be sending it.
    pub(crate) fn left_body_unread(&self) -> bool {
        self.unread_body.load(Relaxed) && self.phase.load(Relaxed) != UPGRADED
    }

    /// Resolves when the connection has been too slow to send a request
    /// head, or idle too long.
    pub(crate) async fn expired(&self, timeouts: Timeouts) -> Expired {
        loop {
            let phase = self.phase.load(Relaxed);
            let since = self.since.load(Relaxed);
            let began = self.origin + Duration::from_nanos(since);
            let (deadline, expired) = match phase {
                HEAD => (began + timeouts.header_read, Expired::Headers),
                IDLE => (began + timeouts.idle, Expired::Idle),
                _ => {
                    self.changed.notified().await;
                    continue;
                }
            };
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => {
                    if self.phase.load(Relaxed) == phase && self.since.load(Relaxed) == since {
                        return expired;
                    }
                }
                () = self.changed.notified() => {}
            }
        }
    }
}

/// A response in progress: dropped when hyper is done with its body.
pub(crate) struct Busy(Arc<Activity>);

impl Busy {
    pub(crate) fn activity(&self) -> &Activity {
        &self.0
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let activity = &self.0;
        if activity.busy.fetch_sub(1, Relaxed) == 1 && activity.phase.load(Relaxed) != UPGRADED {
            activity.enter(IDLE);
        }
    }
}

/// A request body that notes when it has been read to its end.
pub(crate) struct RequestBody {
    inner: Incoming,
    activity: Arc<Activity>,
}

impl RequestBody {
    pub(crate) fn new(inner: Incoming, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let frame = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(frame) = &frame
            && (frame.is_none() || this.inner.is_end_stream())
        {
            this.activity.unread_body.store(false, Relaxed);
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that keeps its connection busy until hyper drops it.
pub(crate) struct ResponseBody {
    inner: axum::body::Body,
    _busy: Busy,
}

impl ResponseBody {
    pub(crate) fn new(inner: axum::body::Body, busy: Busy) -> Self {
        Self { inner, _busy: busy }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHORT: Duration = Duration::from_millis(50);
    const LONG: Duration = Duration::from_secs(60);
    /// Long enough for a 50 ms timeout to have fired on a loaded machine.
    const WAIT: Duration = Duration::from_millis(500);

    async fn expires_within(activity: &Activity, timeouts: Timeouts) -> Option<Expired> {
        tokio::time::timeout(WAIT, activity.expired(timeouts))
            .await
            .ok()
    }

    #[tokio::test]
    async fn a_new_connection_must_send_its_head_in_time() {
        let activity = Activity::new();
        let timeouts = Timeouts {
            header_read: SHORT,
            idle: LONG,
        };
        assert_eq!(
            expires_within(&activity, timeouts).await,
            Some(Expired::Headers)
        );
        assert!(activity.origin.elapsed() >= SHORT);
    }

    #[tokio::test]
    async fn busy_connections_never_expire_and_idle_ones_do() {
        let activity = Arc::new(Activity::new());
        let timeouts = Timeouts {
            header_read: SHORT,
            idle: SHORT,
        };
        let busy = activity.on_request(false);
        assert_eq!(expires_within(&activity, timeouts).await, None);
        drop(busy);
        assert_eq!(
            expires_within(&activity, timeouts).await,
            Some(Expired::Idle)
        );
    }

    #[tokio::test]
    async fn the_first_byte_of_a_head_starts_the_shorter_clock() {
        let activity = Arc::new(Activity::new());
        let timeouts = Timeouts {
            header_read: SHORT,
            idle: LONG,
        };
        drop(activity.on_request(false));
        let watchdog = activity.expired(timeouts);
        tokio::pin!(watchdog);
        assert!(tokio::time::timeout(WAIT, &mut watchdog).await.is_err());
        activity.on_read();
        let expired = tokio::time::timeout(WAIT, watchdog).await;
        assert_eq!(expired.ok(), Some(Expired::Headers));
    }

    #[tokio::test]
    async fn upgraded_connections_never_expire() {
        let activity = Arc::new(Activity::new());
        let timeouts = Timeouts {
            header_read: SHORT,
            idle: SHORT,
        };
        let busy = activity.on_request(true);
        activity.on_upgrade();
        drop(busy);
        activity.on_read();
        assert!(!activity.left_body_unread());
        assert_eq!(expires_within(&activity, timeouts).await, None);
    }
}
