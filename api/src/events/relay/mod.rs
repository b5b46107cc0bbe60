//! The relay: every committed event of the log, published to the brokers
//! and webhooks other services listen on, none lost.
//!
//! Each configured sink has one publisher across all replicas (a
//! [`lease::Lease`]) that reads the log from the sink's checkpoint, in
//! position order, publishes a batch, and moves the checkpoint only after
//! the broker acknowledged it ([`checkpoint`]). A failed publish is retried
//! with exponential backoff and jitter for as long as it takes, the backlog
//! waiting in the log (retention keeps what a sink still needs), so an
//! outage delays events and never loses them. A crash between the
//! acknowledgement and the checkpoint publishes the batch again, with the
//! same ids: delivery is at least once, in order. Every replica reports
//! each sink's lag from the database, so it is visible even while no
//! replica can publish.

mod amqp;
mod checkpoint;
pub mod envelope;
pub(super) mod lease;
mod nats;
mod redis;
pub(crate) mod settings;
mod sink;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use futures_util::StreamExt as _;
use tokio_util::sync::CancellationToken;

pub use checkpoint::held_through;
pub use settings::{RelaySettings, WebhookSecret};

use self::envelope::Message;
use self::lease::{HEARTBEAT, Lease};
use self::sink::{Failure, Reason, Sink};
use super::hub::Hub;
use crate::error::AppError;
use crate::metrics;

/// Events published per batch at most.
const BATCH: usize = 500;
/// How often a replica without a sink's lease tries to take it.
const TAKEOVER: Duration = Duration::from_secs(1);
/// How long one publish may take before it counts as failed.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(20);
/// How often every replica reads each sink's lag.
const STATUS_EVERY: Duration = Duration::from_secs(5);
/// How long a stopped sink waits before it looks again whether an
/// operator started it.
const STOPPED_RECHECK: Duration = Duration::from_secs(30);

/// The configured sinks; empty when none is.
pub fn sinks(settings: &RelaySettings) -> Result<Vec<Box<dyn Sink>>, String> {
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    if let Some(url) = settings.nats_url.get() {
        sinks.push(Box::new(nats::Nats::new(
            url,
            &settings.nats_subject,
            &settings.nats_stream,
        )));
    }
    if let Some(url) = settings.redis_url.get() {
        sinks.push(Box::new(redis::Redis::new(
            url,
            &settings.redis_stream,
            settings.redis_maxlen,
        )));
    }
    if let Some(url) = settings.amqp_url.get() {
        sinks.push(Box::new(amqp::Amqp::new(url, &settings.amqp_exchange)));
    }
    if let (Some(url), Some(key)) = (settings.webhook_url.get(), &settings.webhook_secret.0) {
        let webhook = webhook::Webhook::new(url, key.clone())
            .map_err(|e| format!("the webhook's HTTP client: {e}"))?;
        sinks.push(Box::new(webhook));
    }
    Ok(sinks)
}

/// Starts a publisher for every configured sink, and the task that reports
/// their lag, until `shutdown`. Never waits for a broker: one that cannot
/// be reached is retried in the background while the api serves.
pub fn start(
    hub: &Arc<Hub>,
    settings: &RelaySettings,
    shutdown: &CancellationToken,
) -> Result<(), String> {
    let sinks = sinks(settings)?;
    if sinks.is_empty() {
        return Ok(());
    }
    let labels: Vec<&'static str> = Reason::ALL.iter().map(|r| r.label()).collect();
    let names: Vec<&'static str> = sinks.iter().map(|sink| sink.name()).collect();
    for name in &names {
        metrics::sink_configured(name, &labels);
    }
    tracing::info!(sinks = ?names, "publishing events to other services");
    tokio::spawn(report(hub.clone(), names, shutdown.clone()));
    for sink in sinks {
        let publisher = Publisher {
            hub: hub.clone(),
            lease: Lease::new(hub.db(), sink.name()),
            name: sink.name(),
            sink,
            source: settings.source.clone(),
            shutdown: shutdown.clone(),
        };
        tokio::spawn(publisher.run());
    }
    Ok(())
}

/// Why a publisher stopped leading.
enum Stop {
    Shutdown,
    LeaseLost,
    /// The sink's receiver is gone; nothing to do until an operator says.
    Stopped,
    Failed(AppError),
}

impl From<AppError> for Stop {
    fn from(err: AppError) -> Self {
        Self::Failed(err)
    }
}

struct Publisher {
    hub: Arc<Hub>,
    lease: Lease,
    name: &'static str,
    sink: Box<dyn Sink>,
    source: String,
    shutdown: CancellationToken,
}

impl Publisher {
    async fn run(mut self) {
        if let Err(err) = checkpoint::register(self.hub.db(), self.name, self.hub.head()).await {
            tracing::warn!(sink = self.name, error = %err, "cannot register the event sink yet; retrying");
        }
        let mut tries = tokio::time::interval(TAKEOVER);
        tries.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => break,
                _ = tries.tick() => {}
            }
            match self.lease.take().await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(err) => {
                    tracing::debug!(sink = self.name, error = %err, "cannot try the sink's lease; retrying");
                    continue;
                }
            }
            metrics::sink_publishing(self.name, true);
            let stop = self.lead().await;
            metrics::sink_publishing(self.name, false);
            match stop {
                Stop::Shutdown => break,
                Stop::LeaseLost => {
                    tracing::warn!(
                        sink = self.name,
                        "lost the sink's lease; another replica publishes"
                    );
                    self.lease.release().await;
                }
                Stop::Stopped => {
                    self.lease.release().await;
                    tokio::select! {
                        () = self.shutdown.cancelled() => break,
                        () = tokio::time::sleep(STOPPED_RECHECK) => {}
                    }
                }
                Stop::Failed(err) => {
                    tracing::warn!(sink = self.name, error = %err, "the relay could not read or record its position; retrying");
                    self.lease.release().await;
                }
            }
        }
        self.lease.release().await;
    }

    /// Publishes while this replica holds the lease.
    async fn lead(&mut self) -> Stop {
        let claim = match checkpoint::claim(self.hub.db(), self.name, self.hub.head()).await {
            Ok(claim) => claim,
            Err(err) => return Stop::Failed(err),
        };
        if claim.stopped {
            return Stop::Stopped;
        }
        tracing::info!(
            sink = self.name,
            from = claim.delivered_through,
            "this replica publishes to the sink (lease taken)"
        );
        let mut events = Box::pin(self.hub.events(claim.delivered_through).ready_chunks(BATCH));
        loop {
            let Some(chunk) = (match guarded(&mut self.lease, &self.shutdown, events.next()).await {
                Ok(next) => next,
                Err(stop) => return stop,
            }) else {
                return Stop::Failed(AppError::Internal(sea_orm::DbErr::Custom(
                    "the event log's reader ended".into(),
                )));
            };
            let messages: Result<Vec<Message>, Stop> = chunk
                .into_iter()
                .map(|event| {
                    let event = event?;
                    Message::new(&event, &self.source).map_err(|e| {
                        Stop::Failed(AppError::Internal(sea_orm::DbErr::Custom(format!(
                            "event {} cannot be encoded: {e}",
                            event.position
                        ))))
                    })
                })
                .collect();
            let messages = match messages {
                Ok(messages) => messages,
                Err(stop) => return stop,
            };
            if let Err(stop) = self.deliver(&messages, claim.epoch).await {
                return stop;
            }
        }
    }

    /// Publishes `messages` until the broker acknowledged them all,
    /// checkpointing what it acknowledged as it goes.
    async fn deliver(&mut self, messages: &[Message], epoch: i64) -> Result<(), Stop> {
        let mut pending = messages;
        let mut backoff = backoff();
        let mut failures = 0u64;
        while !pending.is_empty() {
            let published = tokio::time::timeout(PUBLISH_TIMEOUT, self.sink.publish(pending));
            let outcome = match guarded(&mut self.lease, &self.shutdown, published).await? {
                Ok(result) => result,
                Err(_elapsed) => Err(Failure::new(
                    Reason::Timeout,
                    0,
                    "no acknowledgement in time",
                )),
            };
            let (delivered, failure) = match outcome {
                Ok(()) => (pending.len(), None),
                Err(failure) => (failure.delivered.min(pending.len()), Some(failure)),
            };
            if delivered > 0 {
                let through = pending[delivered - 1].position;
                if !checkpoint::advance(self.hub.db(), self.name, epoch, through).await? {
                    return Err(Stop::LeaseLost);
                }
                metrics::sink_published(self.name, delivered);
                pending = &pending[delivered..];
                backoff = self::backoff();
                if failures > 0 {
                    tracing::info!(
                        sink = self.name,
                        after_failures = failures,
                        "the sink acknowledges again"
                    );
                    failures = 0;
                }
            }
            let Some(failure) = failure else { continue };
            failures += 1;
            metrics::sink_failed(self.name, failure.reason.label());
            if failure.reason == Reason::Gone {
                tracing::error!(sink = self.name, error = %failure.error,
                    "the sink's receiver is gone: publishing to it stopped (clear event_sinks.stopped_at to start it again)");
                checkpoint::stop(self.hub.db(), self.name, epoch, &failure.error).await?;
                return Err(Stop::Stopped);
            }
            let wait = backoff.next().unwrap_or(MAX_BACKOFF);
            // The first failure and then every tenth, not every retry.
            if failures == 1 || failures.is_multiple_of(10) {
                tracing::warn!(sink = self.name, reason = failure.reason.label(), error = %failure.error,
                    failures, retry_in = ?wait, "publishing events failed; retrying");
            }
            guarded(&mut self.lease, &self.shutdown, tokio::time::sleep(wait)).await?;
        }
        Ok(())
    }
}

/// Runs `work` while keeping the lease alive: shutdown or a lost lease cut
/// it short.
async fn guarded<T>(
    lease: &mut Lease,
    shutdown: &CancellationToken,
    work: impl Future<Output = T>,
) -> Result<T, Stop> {
    // Due on time across calls: a busy publisher beats as often as an idle one.
    let mut heartbeat = tokio::time::interval_at(lease.next_beat(), HEARTBEAT);
    let mut work = std::pin::pin!(work);
    loop {
        tokio::select! {
            // Finished work wins over a shutdown that came meanwhile: a
            // publish the broker acknowledged gets its checkpoint.
            biased;
            out = &mut work => return Ok(out),
            () = shutdown.cancelled() => return Err(Stop::Shutdown),
            _ = heartbeat.tick() => {
                if !lease.alive().await {
                    return Err(Stop::LeaseLost);
                }
            }
        }
    }
}

/// The longest wait between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// 100 ms, doubling to a minute, each wait up to twice as long at random
/// (so replicas and sinks do not retry in step); never gives up.
fn backoff() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::new()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(MAX_BACKOFF)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
}

/// Every few seconds, each sink's lag as the database has it, on every
/// replica: visible even when no replica can publish.
async fn report(hub: Arc<Hub>, names: Vec<&'static str>, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(STATUS_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        if let Err(err) = report_once(&hub, &names).await {
            tracing::debug!(error = %err, "cannot read the event sinks' positions");
        }
    }
}

async fn report_once(hub: &Hub, names: &[&'static str]) -> crate::error::AppResult<()> {
    let rows = checkpoint::seen(hub.db(), names).await?;
    let head = hub.head();
    let now = chrono::Utc::now();
    for name in names {
        let Some(row) = rows.iter().find(|row| row.name == *name) else {
            continue;
        };
        let oldest = hub.oldest_after(row.delivered_through).await?;
        let lag_seconds = oldest.map_or(0.0, |at| (now - at).as_seconds_f64());
        let last_success = row
            .delivered_at
            .map(|at| at.timestamp_millis() as f64 / 1000.0);
        metrics::sink_status(
            name,
            head - row.delivered_through,
            lag_seconds,
            last_success,
            row.stopped_at.is_some(),
        );
    }
    Ok(())
}
