//! Redis Streams: each batch is appended with XADD inside MULTI/EXEC, so
//! it lands whole or not at all; the stream is capped near
//! `EVENTS_REDIS_MAXLEN` entries.

use std::time::Duration;

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::envelope::{Message, event_type};
use super::sink::{Failure, Reason, Sink};

pub struct Redis {
    url: String,
    stream: String,
    maxlen: u64,
    connection: Option<ConnectionManager>,
}

impl Redis {
    pub fn new(url: &str, stream: &str, maxlen: u64) -> Self {
        Self {
            url: url.to_owned(),
            stream: stream.to_owned(),
            maxlen,
            connection: None,
        }
    }

    async fn connect(&mut self) -> Result<ConnectionManager, Failure> {
        if let Some(connection) = &self.connection {
            return Ok(connection.clone());
        }
        let client = redis::Client::open(self.url.as_str())
            .map_err(|e| Failure::new(Reason::Rejected, 0, e))?;
        // Reconnects by itself once connected; the relay retries the first
        // connection with its own backoff.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(10)))
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| Failure::new(Reason::Unreachable, 0, e))?;
        self.connection = Some(connection.clone());
        Ok(connection)
    }

    async fn send(&mut self, batch: &[Message]) -> Result<(), Failure> {
        let mut connection = self.connect().await?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        for message in batch {
            pipe.cmd("XADD")
                .arg(&self.stream)
                .arg("MAXLEN")
                .arg("~")
                .arg(self.maxlen)
                .arg("*")
                .arg("id")
                .arg(&message.id)
                .arg("type")
                .arg(event_type(message.kind))
                .arg("event")
                .arg(message.body.as_ref())
                .ignore();
        }
        pipe.query_async::<()>(&mut connection)
            .await
            .map_err(|err| {
                let reason = if err.is_timeout() {
                    Reason::Timeout
                } else if err.is_io_error() || err.is_connection_dropped() {
                    Reason::Unreachable
                } else {
                    Reason::Rejected
                };
                Failure::new(reason, 0, err)
            })
    }
}

impl Sink for Redis {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn publish<'a>(&'a mut self, batch: &'a [Message]) -> BoxFuture<'a, Result<(), Failure>> {
        self.send(batch).boxed()
    }
}
