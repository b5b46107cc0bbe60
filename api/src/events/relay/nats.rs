//! NATS JetStream: a message counts once the stream acknowledged it; its
//! `Nats-Msg-Id` lets JetStream drop a redelivery within the stream's
//! duplicate window.

use std::time::Duration;

use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::{self, Context, message::PublishMessage, stream};
use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;

use super::envelope::Message;
use super::sink::{Failure, Reason, Sink};

pub struct Nats {
    url: String,
    subject: String,
    stream: String,
    /// Connected, with the stream known to exist.
    context: Option<Context>,
}

impl Nats {
    pub fn new(url: &str, subject: &str, stream: &str) -> Self {
        Self {
            url: url.to_owned(),
            subject: subject.to_owned(),
            stream: stream.to_owned(),
            context: None,
        }
    }

    async fn connect(&mut self) -> Result<Context, Failure> {
        if let Some(context) = &self.context {
            return Ok(context.clone());
        }
        // The client reconnects by itself once connected; the first
        // connection is the relay's to retry.
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .connect(self.url.as_str())
            .await
            .map_err(|e| Failure::new(Reason::Unreachable, 0, e))?;
        let context = jetstream::new(client);
        context
            .get_or_create_stream(stream::Config {
                name: self.stream.clone(),
                subjects: vec![format!("{}.>", self.subject)],
                ..Default::default()
            })
            .await
            .map_err(|e| {
                Failure::new(Reason::Rejected, 0, format!("stream {}: {e}", self.stream))
            })?;
        self.context = Some(context.clone());
        Ok(context)
    }

    async fn send(&mut self, batch: &[Message]) -> Result<(), Failure> {
        let context = self.connect().await?;
        // Every message is sent before the first acknowledgement is
        // awaited: one round trip per batch, not per message.
        let mut acks = Vec::with_capacity(batch.len());
        let mut sent = Ok(());
        for message in batch {
            let publish = PublishMessage::build()
                .payload(message.body.clone())
                .message_id(&message.id);
            let subject = format!("{}.{}", self.subject, message.verb());
            match context.send_publish(subject, publish).await {
                Ok(ack) => acks.push(ack),
                Err(err) => {
                    sent = Err(err);
                    break;
                }
            }
        }
        let acknowledged = acks.len();
        for (index, ack) in acks.into_iter().enumerate() {
            if let Err(err) = ack.await {
                let reason = match err.kind() {
                    PublishErrorKind::TimedOut => Reason::Timeout,
                    PublishErrorKind::BrokenPipe => Reason::Unreachable,
                    _ => Reason::Rejected,
                };
                // The stream may be gone (deleted by hand): check it again
                // before the retry.
                self.context = None;
                return Err(Failure::new(reason, index, err));
            }
        }
        sent.map_err(|err| {
            self.context = None;
            Failure::new(Reason::Unreachable, acknowledged, err)
        })
    }
}

impl Sink for Nats {
    fn name(&self) -> &'static str {
        "nats"
    }

    fn publish<'a>(&'a mut self, batch: &'a [Message]) -> BoxFuture<'a, Result<(), Failure>> {
        self.send(batch).boxed()
    }
}
