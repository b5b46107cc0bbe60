//! A connection's socket: it counts itself open until dropped, tells the
//! connection's activity when bytes arrive, and closes with a lingering
//! close when the server answered without reading the request's body.
//!
//! A server that answers early (413, 429, 401, 415) and closes while the
//! client is still sending makes the kernel reset the connection, and a
//! client that writes its whole body before reading (Python's urllib, many
//! HTTP libraries) then sees the reset instead of the answer. Like a web
//! server's lingering close, the socket sends its FIN after the answer and
//! reads and discards what still comes, for at most [`LINGER_BYTES`] and
//! [`LINGER_TIME`], so the client can finish writing and read the answer.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use super::activity::Activity;
use super::connections::OpenConnection;

/// Most bytes read and discarded after an early answer.
pub(crate) const LINGER_BYTES: usize = 1024 * 1024;
/// Longest a lingering close waits for the client to stop sending.
pub(crate) const LINGER_TIME: Duration = Duration::from_secs(2);

pub(crate) struct ConnectionIo {
    /// `None` once handed to a lingering close.
    stream: Option<TcpStream>,
    open: Option<OpenConnection>,
    activity: Arc<Activity>,
}

impl ConnectionIo {
    pub(crate) fn new(stream: TcpStream, open: OpenConnection, activity: Arc<Activity>) -> Self {
        Self {
            stream: Some(stream),
            open: Some(open),
            activity,
        }
    }

    fn stream(self: Pin<&mut Self>) -> std::io::Result<Pin<&mut TcpStream>> {
        match self.get_mut().stream.as_mut() {
            Some(stream) => Ok(Pin::new(stream)),
            None => Err(std::io::ErrorKind::NotConnected.into()),
        }
    }
}

impl AsyncRead for ConnectionIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let read = self.as_mut().stream()?.poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.on_read();
        }
        read
    }
}

impl AsyncWrite for ConnectionIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.stream()?.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.stream()?.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(|s| s.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.stream()?.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.stream()?.poll_shutdown(cx)
    }
}

impl Drop for ConnectionIo {
    fn drop(&mut self) {
        if !self.activity.left_body_unread() {
            return;
        }
        let (Some(stream), Some(open), Ok(runtime)) = (
            self.stream.take(),
            self.open.take(),
            tokio::runtime::Handle::try_current(),
        ) else {
            return;
        };
        runtime.spawn(linger(stream, open));
    }
}

/// Sends FIN, then reads and discards until the client closes its side or a
/// bound is reached. The connection counts as open meanwhile.
async fn linger(mut stream: TcpStream, _open: OpenConnection) {
    let _ = stream.shutdown().await;
    let until = tokio::time::Instant::now() + LINGER_TIME;
    let mut scratch = vec![0u8; 16 * 1024];
    let mut left = LINGER_BYTES;
    while left > 0 {
        match tokio::time::timeout_at(until, stream.read(&mut scratch)).await {
            Ok(Ok(n)) if n > 0 => left = left.saturating_sub(n),
            _ => return,
        }
    }
}
