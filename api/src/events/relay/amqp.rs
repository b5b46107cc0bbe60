//! RabbitMQ: persistent messages to a durable topic exchange, each counted
//! once the broker confirmed it (publisher confirms).

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};

use super::envelope::{CONTENT_TYPE, Message, event_type};
use super::sink::{Failure, Reason, Sink};

/// AMQP's delivery mode for messages written to disk.
const PERSISTENT: u8 = 2;

pub struct Amqp {
    url: String,
    exchange: String,
    /// The connection and its channel in confirm mode.
    open: Option<(Connection, Channel)>,
}

impl Amqp {
    pub fn new(url: &str, exchange: &str) -> Self {
        Self {
            url: url.to_owned(),
            exchange: exchange.to_owned(),
            open: None,
        }
    }

    async fn channel(&mut self) -> Result<Channel, Failure> {
        if let Some((connection, channel)) = &self.open
            && connection.status().connected()
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        self.close().await;
        let unreachable = |e: lapin::Error| Failure::new(Reason::Unreachable, 0, e);
        let connection = Connection::connect(&self.url, ConnectionProperties::default())
            .await
            .map_err(unreachable)?;
        let channel = connection.create_channel().await.map_err(unreachable)?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(unreachable)?;
        channel
            .exchange_declare(
                self.exchange.as_str().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|e| Failure::new(Reason::Rejected, 0, e))?;
        self.open = Some((connection, channel.clone()));
        Ok(channel)
    }

    async fn close(&mut self) {
        if let Some((connection, _)) = self.open.take() {
            let _ = connection.close(200, "reconnecting".into()).await;
        }
    }

    async fn send(&mut self, batch: &[Message]) -> Result<(), Failure> {
        let channel = self.channel().await?;
        // Everything is sent before the first confirmation is awaited.
        let mut confirms = Vec::with_capacity(batch.len());
        let mut sent = Ok(());
        for message in batch {
            let properties = BasicProperties::default()
                .with_delivery_mode(PERSISTENT)
                .with_message_id(message.id.as_str().into())
                .with_content_type(CONTENT_TYPE.into())
                .with_type(event_type(message.kind).into());
            let published = channel
                .basic_publish(
                    self.exchange.as_str().into(),
                    format!("task.{}", message.verb()).as_str().into(),
                    BasicPublishOptions::default(),
                    &message.body,
                    properties,
                )
                .await;
            match published {
                Ok(confirm) => confirms.push(confirm),
                Err(err) => {
                    sent = Err(err);
                    break;
                }
            }
        }
        let acknowledged = confirms.len();
        for (index, confirm) in confirms.into_iter().enumerate() {
            match confirm.await {
                Ok(confirmation) if confirmation.is_ack() => {}
                Ok(_) => {
                    return Err(Failure::new(
                        Reason::Rejected,
                        index,
                        "the broker did not confirm (nack)",
                    ));
                }
                Err(err) => {
                    self.close().await;
                    return Err(Failure::new(Reason::Unreachable, index, err));
                }
            }
        }
        if let Err(err) = sent {
            self.close().await;
            return Err(Failure::new(Reason::Unreachable, acknowledged, err));
        }
        Ok(())
    }
}

impl Sink for Amqp {
    fn name(&self) -> &'static str {
        "amqp"
    }

    fn publish<'a>(&'a mut self, batch: &'a [Message]) -> BoxFuture<'a, Result<(), Failure>> {
        self.send(batch).boxed()
    }
}
