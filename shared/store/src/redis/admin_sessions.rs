//! Admin sessions: one hash per session expiring at `expires_at`, and revocations broadcast on
//! the pub/sub channel `P:admin_session:revoked` through a dedicated connection per subscriber.

use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use redis::aio::{PubSubSink, PubSubStream};
use redis::{Client, Value};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::codec::{Fields, Row};
use super::copy::{Scan, ScanRows};
use super::keys::Keys;
use super::rows::{Expiry, require_future};
use super::{RedisStore, bounded};
use crate::admin_sessions::{AdminSession, AdminSessionStore, RevocationEvent, RevocationStream};
use crate::copy::CopyRow;
use crate::error::{StoreError, StoreResult};

const TABLE: &str = "admin_sessions";

/// Events buffered for a subscriber that does not keep up (Redis buffers more on its side and
/// drops the connection past its pub/sub output limit, which ends in a `Resync`).
const EVENT_BUFFER: usize = 256;

/// How often an idle subscription pings Redis to notice a dead connection.
const PING_INTERVAL: Duration = Duration::from_secs(1);

/// First and longest wait between resubscription attempts.
const RESUBSCRIBE_MIN_DELAY: Duration = Duration::from_millis(100);
const RESUBSCRIBE_MAX_DELAY: Duration = Duration::from_secs(5);

lua_script!(REVOKE = "admin_session_revoke.lua");

fn decode(row: &Row) -> StoreResult<AdminSession> {
    Ok(AdminSession {
        session_id: row.text("session_id")?,
        csrf_token: row.text("csrf_token")?,
        admin_key_hash: row.hex32("admin_key_hash")?,
        created_at: row.timestamp("created_at")?,
        expires_at: row.timestamp("expires_at")?,
        revoked: row.flag("revoked")?,
        user_agent: row.opt_text("user_agent")?,
        source_ip: row.opt_text("source_ip")?,
    })
}

/// A subscription to the revocation channel on its own connection.
struct Subscription {
    sink: PubSubSink,
    messages: PubSubStream,
}

impl Subscription {
    /// Connects and subscribes within `timeout`.
    async fn open(client: &Client, channel: &str, timeout: Duration) -> StoreResult<Self> {
        bounded(timeout, async {
            let (mut sink, messages) = client.get_async_pubsub().await?.split();
            sink.subscribe(channel).await?;
            Ok(Self { sink, messages })
        })
        .await
    }

    /// Forwards revocations until the connection fails (returns) or the subscriber is gone
    /// (returns `Err`).
    async fn forward(
        &mut self,
        events: &mpsc::Sender<RevocationEvent>,
        timeout: Duration,
    ) -> Result<(), SubscriberGone> {
        let mut ping = tokio::time::interval(PING_INTERVAL);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = events.closed() => return Err(SubscriberGone),
                message = self.messages.next() => {
                    let Some(message) = message else { return Ok(()) };
                    let id = String::from_utf8_lossy(message.get_payload_bytes()).into_owned();
                    events.send(RevocationEvent::Revoked(id)).await.map_err(|_| SubscriberGone)?;
                }
                _ = ping.tick() => {
                    if bounded(timeout, self.sink.ping::<Value>()).await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }
}

/// The receiving side of a revocation stream was dropped.
struct SubscriberGone;

/// Runs until the subscriber drops its stream: forwards revocations and, after any connection
/// failure, resubscribes with backoff and yields `Resync`.
async fn run_subscription(
    client: Client,
    channel: String,
    timeout: Duration,
    mut subscription: Subscription,
    events: mpsc::Sender<RevocationEvent>,
) -> Result<(), SubscriberGone> {
    loop {
        subscription.forward(&events, timeout).await?;
        let mut delay = RESUBSCRIBE_MIN_DELAY;
        subscription = loop {
            tokio::select! {
                () = events.closed() => return Err(SubscriberGone),
                () = tokio::time::sleep(delay) => {}
            }
            match Subscription::open(&client, &channel, timeout).await {
                Ok(subscription) => break subscription,
                Err(error) => {
                    tracing::debug!(%error, "resubscribing to admin session revocations");
                    delay = (delay * 2).min(RESUBSCRIBE_MAX_DELAY);
                }
            }
        };
        events
            .send(RevocationEvent::Resync)
            .await
            .map_err(|_| SubscriberGone)?;
    }
}

#[async_trait]
impl AdminSessionStore for RedisStore {
    async fn create_admin_session(&self, session: AdminSession) -> StoreResult<()> {
        require_future("admin session", session.expires_at)?;
        let fields = Fields::new()
            .text("session_id", session.session_id.as_str())
            .text("csrf_token", session.csrf_token.as_str())
            .hex("admin_key_hash", &session.admin_key_hash)
            .timestamp("created_at", session.created_at)
            .timestamp("expires_at", session.expires_at)
            .flag("revoked", session.revoked)
            .optional("user_agent", session.user_agent.as_deref(), Fields::text)
            .optional("source_ip", session.source_ip.as_deref(), Fields::text);
        let key = self.keys().admin_session(&session.session_id);
        match self
            .create_expiring_row(TABLE, &key, &fields, session.expires_at)
            .await?
        {
            None => Ok(()),
            Some(_) => Err(StoreError::conflict("admin session already exists")),
        }
    }

    async fn get_admin_session(&self, session_id: &str) -> StoreResult<Option<AdminSession>> {
        let row = self
            .row(TABLE, &self.keys().admin_session(session_id))
            .await?;
        row.as_ref().map(decode).transpose()
    }

    async fn revoke_admin_session(&self, session_id: &str) -> StoreResult<bool> {
        let keys = self.keys();
        let mut invocation = REVOKE.key(keys.admin_session(session_id));
        invocation
            .arg(keys.admin_session_revocations())
            .arg(session_id);
        let revoked: i64 = self.eval(&invocation).await?;
        Ok(revoked == 1)
    }

    async fn subscribe_admin_session_revocations(&self) -> StoreResult<RevocationStream> {
        let channel = self.keys().admin_session_revocations();
        let (client, timeout) = (self.inner.client.clone(), self.inner.timeout);
        let subscription = Subscription::open(&client, &channel, timeout).await?;
        let (events, receiver) = mpsc::channel(EVENT_BUFFER);
        tokio::spawn(run_subscription(
            client,
            channel,
            timeout,
            subscription,
            events,
        ));
        Ok(ReceiverStream::new(receiver).boxed())
    }
}

impl RedisStore {
    /// Writes one copied admin session (revoked or not) expiring at its `expires_at`, replacing
    /// the session of the same id.
    pub(super) async fn import_admin_session(&self, session: &AdminSession) -> StoreResult<()> {
        let fields = Fields::new()
            .text("session_id", session.session_id.as_str())
            .text("csrf_token", session.csrf_token.as_str())
            .hex("admin_key_hash", &session.admin_key_hash)
            .timestamp("created_at", session.created_at)
            .timestamp("expires_at", session.expires_at)
            .flag("revoked", session.revoked)
            .optional("user_agent", session.user_agent.as_deref(), Fields::text)
            .optional("source_ip", session.source_ip.as_deref(), Fields::text);
        let key = self.keys().admin_session(&session.session_id);
        self.put_row(&key, &fields, Expiry::At(session.expires_at), None)
            .await
    }
}

/// The `miroir-migrate copy` export of admin sessions: `SCAN` of their hashes on every master.
pub(super) fn copy_scan(keys: &Keys) -> Scan {
    Scan::spread(
        keys.admin_session_prefix(),
        ScanRows::Hashes(|row| decode(row).map(CopyRow::AdminSession)),
    )
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::redis::test_support;
    use crate::time::Timestamp;

    async fn subscribers(store: &RedisStore) -> u64 {
        let channel = store.keys().admin_session_revocations();
        let (_, count): (String, u64) = store
            .query(redis::cmd("PUBSUB").arg("NUMSUB").arg(channel))
            .await
            .expect("pubsub numsub");
        count
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn revocations_are_streamed_and_dropping_the_stream_unsubscribes() {
        let store = test_support::store("revocations").await;
        let mut events = store
            .subscribe_admin_session_revocations()
            .await
            .expect("subscribe");
        assert_eq!(subscribers(&store).await, 1);
        let now = Timestamp::now();
        let session = AdminSession {
            session_id: "s:{1}".to_owned(),
            csrf_token: "csrf".to_owned(),
            admin_key_hash: [7; 32],
            created_at: now,
            expires_at: now.plus(Duration::from_secs(60)),
            revoked: false,
            user_agent: None,
            source_ip: Some("::1".to_owned()),
        };
        store
            .create_admin_session(session.clone())
            .await
            .expect("create");
        assert_eq!(store.revoke_admin_session("s:{1}").await, Ok(true));
        assert_eq!(store.revoke_admin_session("missing").await, Ok(false));
        let event = tokio::time::timeout(Duration::from_secs(5), events.next()).await;
        assert_eq!(
            event,
            Ok(Some(RevocationEvent::Revoked("s:{1}".to_owned())))
        );
        let stored = store.get_admin_session("s:{1}").await.expect("get");
        assert_eq!(
            stored,
            Some(AdminSession {
                revoked: true,
                ..session
            })
        );

        drop(events);
        let deadline = Instant::now() + Duration::from_secs(5);
        while subscribers(&store).await > 0 {
            assert!(
                Instant::now() < deadline,
                "the subscription outlived its stream"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
