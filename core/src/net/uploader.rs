//! The uploader: a bounded queue of encoded payloads drained one exchange at a time.
//!
//! A payload leaves the queue only when [`crate::http::classify`] says `Accepted` or `Drop`
//! (counted with the reason). `Retry` and network failures keep it and back off per
//! [`crate::retry`]; `Reprovision` keeps it, forgets the API key and reports
//! [`SendReport::Reprovision`] until [`Uploader::set_credentials`] brings a new one. Nothing is
//! lost silently: every item is accepted, still queued, or counted in [`UploaderCounters`].
//!
//! The uploader owns no timer and no socket: the caller passes a [`Connection`] (kept open from
//! one call to the next, HTTP/1.1 keep-alive), the TCP/DNS stack, a monotonic time in
//! milliseconds and a CSPRNG to each [`Uploader::send_next`], and decides how to wait. When the
//! connection closes (the server said `Connection: close`, an exchange failed, it sat idle longer
//! than [`Uploader::with_idle_timeout_ms`], or the next payload goes to another host),
//! `send_next` answers [`SendReport::Reconnect`] and the caller brings a new one. A request that
//! fails on a reused connection (the server closed it while idle) goes again at once on a fresh
//! one; on a fresh connection a failure backs off. Dropping a `send_next` future mid-flight (e.g.
//! on a timeout) keeps the payload queued and retires the connection, so a payload can be
//! delivered twice but never lost.

use core::marker::PhantomData;

use embedded_io_async::{Read, Write};
use embedded_nal_async::{Dns, TcpConnect};
use embedded_tls::{CryptoRngCore, NoClock, TlsClock};

use super::queue::{PayloadInfo, PayloadQueue, QueueError};
use super::transport::{Connection, ExchangeBuffers, ExchangeError, Request, Security, exchange};
use crate::http::{ContentEncoding, DropReason, Endpoint, Outcome, RequestHead, classify};
use crate::provision::ApiKey;
use crate::retry::{Backoff, BackoffConfig};
use crate::site::Site;

/// Why a payload left the queue without being accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DropCause {
    /// Datadog refused it for good (400, 413, other 4xx).
    Refused(DropReason),
    /// The queue was full when it was submitted (it never entered).
    QueueOverflow,
    /// No request head could be written for it (for example a body length the head refuses).
    Unsendable,
}

/// Why the head payload will be tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RetryCause {
    /// Datadog answered 408, 429, 5xx or a non-verdict status.
    Status(u16),
    /// No response: DNS, connect, TLS or I/O failure.
    Network(ExchangeError),
}

/// What one [`Uploader::send_next`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SendReport {
    /// Nothing is queued.
    Idle,
    /// Backing off: nothing is sent before this monotonic time (ms).
    Waiting {
        /// When the next attempt may start.
        until_ms: u64,
    },
    /// No API key: provision (or re-provision) and call [`Uploader::set_credentials`].
    NeedsCredentials,
    /// The payload was accepted and left the queue.
    Accepted(PayloadInfo),
    /// The payload was dropped and left the queue.
    Dropped(PayloadInfo, DropCause),
    /// The payload stays; the next attempt waits until `until_ms`.
    Retrying {
        /// The payload that failed.
        info: PayloadInfo,
        /// Why.
        cause: RetryCause,
        /// When the next attempt may start (monotonic ms).
        until_ms: u64,
    },
    /// Datadog refused the API key: the payload stays, the key is forgotten; re-provision.
    Reprovision,
    /// The connection is closed (see [`Connection::is_closed`]) or was just closed because it
    /// sat idle or the next payload goes to another host; the payload stays: call again at once
    /// with a new [`Connection`].
    Reconnect,
}

/// How long a kept-alive connection may sit unused before the uploader closes it, unless the
/// firmware chooses otherwise: longer than a 10 s flush interval, shorter than the idle timeouts
/// of common load balancers (60 s), so the device, not the server, decides when it closes.
pub const DEFAULT_IDLE_TIMEOUT_MS: u64 = 30_000;

/// Running totals since the uploader was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct UploaderCounters {
    /// Payloads accepted into the queue.
    pub enqueued: u32,
    /// Exchanges started (each attempt of each payload).
    pub sent: u32,
    /// Connections opened (with TLS, each one a full handshake).
    pub connections_opened: u32,
    /// Requests that failed on a reused connection (the server had closed it) and went again at
    /// once on a fresh one, without back-off (not counted in `retried`).
    pub stale_retries: u32,
    /// Payloads Datadog accepted.
    pub accepted: u32,
    /// Attempts that will be retried (status or network).
    pub retried: u32,
    /// Attempts that failed without a response (a subset of `retried`).
    pub network_errors: u32,
    /// Payloads dropped with 400.
    pub dropped_bad_request: u32,
    /// Payloads dropped with 413.
    pub dropped_too_large: u32,
    /// Payloads dropped with another 4xx.
    pub dropped_client_error: u32,
    /// Payloads refused at submission because the queue was full.
    pub dropped_queue_overflow: u32,
    /// Payloads dropped because no request head could be written.
    pub dropped_unsendable: u32,
    /// Times Datadog refused the API key.
    pub reprovision_requests: u32,
    /// Items (points, events, ...) in accepted payloads.
    pub items_accepted: u64,
    /// Items in dropped payloads, whatever the cause.
    pub items_dropped: u64,
    /// Most payloads ever waiting at once.
    pub queue_high_water: u16,
}

impl UploaderCounters {
    /// Payloads dropped for any reason.
    pub const fn dropped(&self) -> u32 {
        self.dropped_bad_request
            .saturating_add(self.dropped_too_large)
            .saturating_add(self.dropped_client_error)
            .saturating_add(self.dropped_queue_overflow)
            .saturating_add(self.dropped_unsendable)
    }

    fn count_drop(&mut self, info: PayloadInfo, cause: DropCause) {
        let counter = match cause {
            DropCause::Refused(DropReason::BadRequest) => &mut self.dropped_bad_request,
            DropCause::Refused(DropReason::PayloadTooLarge) => &mut self.dropped_too_large,
            DropCause::Refused(DropReason::ClientError { .. }) => &mut self.dropped_client_error,
            DropCause::QueueOverflow => &mut self.dropped_queue_overflow,
            DropCause::Unsendable => &mut self.dropped_unsendable,
        };
        *counter = counter.saturating_add(1);
        self.items_dropped = self.items_dropped.saturating_add(u64::from(info.items));
    }
}

/// Why credentials were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CredentialsError {
    /// Plain HTTP was configured but the site is a real Datadog site.
    PlainHttpNeedsSandbox,
}

struct Credentials {
    site: Site,
    api_key: ApiKey,
}

/// Sends queued payloads to Datadog. `SLOTS` payloads of up to `SLOT_BYTES` each are held inline;
/// `C` supplies wall time for certificate validity checks (default: none).
pub struct Uploader<'a, const SLOTS: usize, const SLOT_BYTES: usize, C: TlsClock = NoClock> {
    queue: PayloadQueue<SLOTS, SLOT_BYTES>,
    security: Security<'a>,
    buffers: ExchangeBuffers<'a>,
    idle_timeout_ms: u64,
    credentials: Option<Credentials>,
    backoff: Backoff,
    next_attempt_ms: u64,
    counters: UploaderCounters,
    _clock: PhantomData<C>,
}

impl<const SLOTS: usize, const SLOT_BYTES: usize, C: TlsClock> core::fmt::Debug
    for Uploader<'_, SLOTS, SLOT_BYTES, C>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never prints the API key.
        f.debug_struct("Uploader")
            .field("queue", &self.queue)
            .field("has_credentials", &self.credentials.is_some())
            .field("counters", &self.counters)
            .finish()
    }
}

impl<'a, const SLOTS: usize, const SLOT_BYTES: usize, C: TlsClock>
    Uploader<'a, SLOTS, SLOT_BYTES, C>
{
    /// An empty uploader without credentials, closing idle connections after
    /// [`DEFAULT_IDLE_TIMEOUT_MS`].
    pub fn new(
        security: Security<'a>,
        buffers: ExchangeBuffers<'a>,
        backoff: BackoffConfig,
    ) -> Self {
        Self {
            queue: PayloadQueue::new(),
            security,
            buffers,
            idle_timeout_ms: DEFAULT_IDLE_TIMEOUT_MS,
            credentials: None,
            backoff: Backoff::new(backoff),
            next_attempt_ms: 0,
            counters: UploaderCounters::default(),
            _clock: PhantomData,
        }
    }

    /// Closes connections unused for `idle_timeout_ms` (see [`Uploader::close_if_idle`]).
    #[must_use]
    pub fn with_idle_timeout_ms(mut self, idle_timeout_ms: u64) -> Self {
        self.idle_timeout_ms = idle_timeout_ms;
        self
    }

    /// When `connection`, if open, has been idle for the idle timeout (monotonic ms): the caller
    /// should come back then and call [`Uploader::close_if_idle`].
    pub fn idle_deadline_ms<S: Read + Write>(&self, connection: &Connection<'_, S>) -> Option<u64> {
        connection.is_open().then(|| {
            connection
                .last_used_ms()
                .saturating_add(self.idle_timeout_ms)
        })
    }

    /// Closes `connection` if it has been idle for the idle timeout at `now_ms`; true if it did.
    pub async fn close_if_idle<S: Read + Write>(
        &self,
        connection: &mut Connection<'_, S>,
        now_ms: u64,
    ) -> bool {
        let idle = self
            .idle_deadline_ms(connection)
            .is_some_and(|deadline| now_ms >= deadline);
        if idle {
            connection.close().await;
        }
        idle
    }

    /// Installs the site and API key from provisioning (replacing, and so zeroizing, any
    /// previous key). Sending resumes at once.
    pub fn set_credentials(&mut self, site: Site, api_key: ApiKey) -> Result<(), CredentialsError> {
        if matches!(self.security, Security::PlainHttpSandboxOnly) && !site.is_sandbox() {
            return Err(CredentialsError::PlainHttpNeedsSandbox);
        }
        self.credentials = Some(Credentials { site, api_key });
        self.next_attempt_ms = 0;
        Ok(())
    }

    /// Forgets (zeroizes) the API key: nothing is sent until [`Uploader::set_credentials`];
    /// queued payloads stay. For a device whose lease ended or whose gateway refused it.
    pub fn forget_credentials(&mut self) {
        self.credentials = None;
    }

    /// True when an API key is installed.
    pub fn has_credentials(&self) -> bool {
        self.credentials.is_some()
    }

    /// The site payloads go to, once provisioned.
    pub fn site(&self) -> Option<Site> {
        self.credentials.as_ref().map(|c| c.site)
    }

    /// Running totals.
    pub fn counters(&self) -> UploaderCounters {
        self.counters
    }

    /// Payloads waiting.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Free queue slots.
    pub fn free_slots(&self) -> usize {
        self.queue.free_slots()
    }

    /// Queues a payload (copied). On `Full` the payload is counted as dropped (queue overflow)
    /// and its items in `items_dropped`; on `TooLarge`/`Empty`/`EncodingNotAccepted` nothing is
    /// counted and the caller keeps the items (split the batch or fix it).
    pub fn submit(
        &mut self,
        endpoint: Endpoint,
        encoding: ContentEncoding,
        items: u32,
        body: &[u8],
    ) -> Result<(), QueueError> {
        if !endpoint.accepts_encoding(encoding) {
            return Err(QueueError::EncodingNotAccepted);
        }
        let info = PayloadInfo {
            endpoint,
            encoding,
            items,
        };
        match self.queue.push_back(info, body) {
            Ok(()) => {
                self.counters.enqueued = self.counters.enqueued.saturating_add(1);
                let waiting = u16::try_from(self.queue.len()).unwrap_or(u16::MAX);
                self.counters.queue_high_water = self.counters.queue_high_water.max(waiting);
                Ok(())
            }
            Err(QueueError::Full) => {
                self.counters.count_drop(info, DropCause::QueueOverflow);
                Err(QueueError::Full)
            }
            Err(other) => Err(other),
        }
    }

    /// Tries the oldest payload once on `connection`, if its back-off has elapsed at `now_ms`
    /// (monotonic).
    pub async fn send_next<'t, T, D, R>(
        &mut self,
        connection: &mut Connection<'_, T::Connection<'t>>,
        tcp: &'t T,
        dns: &D,
        now_ms: u64,
        rng: &mut R,
    ) -> SendReport
    where
        T: TcpConnect,
        D: Dns,
        R: CryptoRngCore,
    {
        let Some((info, body)) = self.queue.front() else {
            return SendReport::Idle;
        };
        let Some(credentials) = self.credentials.as_ref() else {
            return SendReport::NeedsCredentials;
        };
        if now_ms < self.next_attempt_ms {
            return SendReport::Waiting {
                until_ms: self.next_attempt_ms,
            };
        }
        let head = RequestHead::new(
            info.endpoint,
            &credentials.site,
            credentials.api_key.as_str(),
        )
        .with_body(info.encoding, body.len());
        let other_host = connection.host().is_some_and(|host| host != head.host());
        if connection.is_closed() || other_host || self.close_if_idle(connection, now_ms).await {
            connection.close().await;
            return SendReport::Reconnect;
        }
        let reused = connection.is_open();
        self.counters.sent = self.counters.sent.saturating_add(1);
        let request = Request {
            security: self.security,
            head: &head,
            body,
            now_ms,
        };
        let result =
            exchange::<_, _, _, C>(connection, tcp, dns, request, &mut self.buffers, &mut *rng)
                .await;
        if !reused && connection.host().is_some() {
            self.counters.connections_opened = self.counters.connections_opened.saturating_add(1);
        }
        match result {
            Ok(response) => match classify(response.status, &response.headers) {
                Outcome::Accepted => {
                    self.queue.pop_front();
                    self.backoff.reset();
                    self.counters.accepted = self.counters.accepted.saturating_add(1);
                    self.counters.items_accepted = self
                        .counters
                        .items_accepted
                        .saturating_add(u64::from(info.items));
                    SendReport::Accepted(info)
                }
                Outcome::Drop { reason } => self.drop_front(info, DropCause::Refused(reason)),
                Outcome::Retry { after } => self.retry(
                    info,
                    RetryCause::Status(response.status),
                    after,
                    now_ms,
                    rng,
                ),
                Outcome::Reprovision => {
                    self.credentials = None;
                    self.counters.reprovision_requests =
                        self.counters.reprovision_requests.saturating_add(1);
                    SendReport::Reprovision
                }
            },
            Err(ExchangeError::Request(_)) => self.drop_front(info, DropCause::Unsendable),
            Err(ExchangeError::Io) if reused => {
                self.counters.stale_retries = self.counters.stale_retries.saturating_add(1);
                SendReport::Reconnect
            }
            Err(error) => {
                self.counters.network_errors = self.counters.network_errors.saturating_add(1);
                self.retry(info, RetryCause::Network(error), None, now_ms, rng)
            }
        }
    }

    fn drop_front(&mut self, info: PayloadInfo, cause: DropCause) -> SendReport {
        self.queue.pop_front();
        // A refusal is a verdict on this payload, not on the link: the next goes out at once.
        self.backoff.reset();
        self.counters.count_drop(info, cause);
        SendReport::Dropped(info, cause)
    }

    fn retry<R: CryptoRngCore>(
        &mut self,
        info: PayloadInfo,
        cause: RetryCause,
        server_after_s: Option<u32>,
        now_ms: u64,
        rng: &mut R,
    ) -> SendReport {
        self.counters.retried = self.counters.retried.saturating_add(1);
        let delay = self
            .backoff
            .next_delay(&mut || rng.next_u32(), server_after_s);
        let delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.next_attempt_ms = now_ms.saturating_add(delay_ms);
        SendReport::Retrying {
            info,
            cause,
            until_ms: self.next_attempt_ms,
        }
    }
}
