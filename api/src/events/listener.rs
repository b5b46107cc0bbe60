//! What keeps a replica's hub current: the tail that reads new events, the
//! PostgreSQL listener that wakes it when the sequencer numbered some (and
//! wakes the sequencer when another replica committed), and the retention
//! that deletes old events.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use metrics::counter;
use sea_orm::DatabaseConnectionType;
use sea_orm::sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

use super::hub::Hub;
use super::log;

/// A wake-up can be missed (a client gone between its commit and the
/// wake, a notification lost with its connection): the tail also looks this
/// often on its own.
const POLL: Duration = Duration::from_secs(1);
/// A sink no replica reported for this long (and for the retention) no
/// longer holds events back from retention.
const SINK_SEEN_AT_LEAST: chrono::Duration = chrono::Duration::minutes(10);

/// Events deleted per statement by retention.
const PRUNE_BATCH: u64 = 1000;

/// Starts the replica's event tasks; they stop when `shutdown` is cancelled.
pub fn spawn(hub: &Arc<Hub>, retention: Duration, shutdown: &CancellationToken) {
    if let DatabaseConnectionType::SqlxPostgresPoolConnection(_) = &hub.db().inner {
        tokio::spawn(listen(hub.clone(), shutdown.clone()));
        super::sequencer::spawn(hub, shutdown);
    } else {
        // One process: every commit wakes the tail directly.
        hub.set_listening(true);
    }
    tokio::spawn(tail(hub.clone(), shutdown.clone()));
    tokio::spawn(prune(hub.clone(), retention, shutdown.clone()));
}

async fn tail(hub: Arc<Hub>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = hub.wake().woken() => {}
            _ = tick.tick() => {}
        }
        if let Err(err) = hub.catch_up().await {
            if stopping(&hub, &shutdown) {
                return;
            }
            tracing::warn!(error = %err, "reading new events failed; retrying");
        }
    }
}

/// One dedicated connection per replica LISTENs; a notification only wakes
/// the tail, which reads the table (or the sequencer, which numbers what
/// another replica committed). When the connection drops, it is made again
/// with backoff and both look for what they missed: nothing is lost across
/// the gap, which is logged and counted.
async fn listen(hub: Arc<Hub>, shutdown: CancellationToken) {
    let pool = hub.db().get_postgres_connection_pool().clone();
    let mut delay = Duration::from_millis(100);
    loop {
        let connected = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.eager_reconnect(false);
            listener
                .listen_all([log::CHANNEL, log::PENDING_CHANNEL])
                .await?;
            Ok::<_, sea_orm::sqlx::Error>(listener)
        };
        let mut listener = tokio::select! {
            () = shutdown.cancelled() => return,
            connected = connected => match connected {
                Ok(listener) => listener,
                Err(_) if stopping(&hub, &shutdown) => return,
                Err(err) => {
                    tracing::warn!(error = %err, retry_in_ms = delay.as_millis() as u64,
                        "event listener cannot connect; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(Duration::from_secs(5));
                    continue;
                }
            },
        };
        delay = Duration::from_millis(100);
        hub.set_listening(true);
        // Whatever committed while nobody listened.
        hub.wake().wake();
        hub.announced().wake();
        let lost = loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                received = listener.try_recv() => match received {
                    Ok(Some(notification)) if notification.channel() == log::PENDING_CHANNEL => {
                        hub.announced().wake();
                    }
                    Ok(Some(_)) => {
                        hub.heard_numbering();
                        hub.wake().wake();
                    }
                    Ok(None) => break "connection closed".to_owned(),
                    Err(err) => break err.to_string(),
                },
            }
        };
        hub.set_listening(false);
        // A planned shutdown closes the pool under the listener: nothing was
        // lost that anyone still waits for, so nothing to warn about.
        if stopping(&hub, &shutdown) {
            tracing::debug!(reason = %lost, "event listener stopped with the shutdown");
            return;
        }
        counter!(crate::metrics::EVENTS_LISTENER_RECONNECTS).increment(1);
        tracing::warn!(reason = %lost, last_event = hub.head(),
            "event listener lost its connection; reconnecting and reading what it missed");
    }
}

/// Whether the process is stopping as planned: the shutdown began, or the
/// pool was closed (which only the shutdown does). Failures then are the
/// shutdown's doing, not something to warn about.
fn stopping(hub: &Hub, shutdown: &CancellationToken) -> bool {
    shutdown.is_cancelled()
        || match &hub.db().inner {
            DatabaseConnectionType::SqlxPostgresPoolConnection(_) => {
                hub.db().get_postgres_connection_pool().is_closed()
            }
            DatabaseConnectionType::SqlxSqlitePoolConnection(_) => {
                hub.db().get_sqlite_connection_pool().is_closed()
            }
            _ => false,
        }
}

/// Deletes events older than the retention, a batch at a time.
async fn prune(hub: Arc<Hub>, retention: Duration, shutdown: CancellationToken) {
    let every = (retention / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    let retention = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let Some(cutoff) = Utc::now().checked_sub_signed(retention) else {
            continue;
        };
        // A sink keeps what it has not published while some replica is
        // configured with it: seen within the retention, and at least
        // within the last few minutes (they report every few seconds).
        let seen_since = cutoff.min(Utc::now() - SINK_SEEN_AT_LEAST);
        let held = match super::relay::held_through(hub.db(), seen_since).await {
            Ok(held) => held,
            Err(_) if stopping(&hub, &shutdown) => return,
            Err(err) => {
                tracing::warn!(error = %err, "reading the event sinks' positions failed; retrying later");
                continue;
            }
        };
        loop {
            match log::prune(
                hub.db(),
                hub.row_level_security(),
                cutoff,
                held,
                PRUNE_BATCH,
            )
            .await
            {
                Ok(n) if n == PRUNE_BATCH => tokio::task::yield_now().await,
                Ok(_) => break,
                Err(_) if stopping(&hub, &shutdown) => return,
                Err(err) => {
                    tracing::warn!(error = %err, "deleting old events failed; retrying later");
                    break;
                }
            }
        }
    }
}
