//! The firmware application: provision at boot, then sample the sensors every interval and,
//! like the Datadog Agent, collect the samples into one v2 series payload flushed every flush
//! interval ([`DEFAULT_FLUSH_INTERVAL_MS`]) or as soon as the batch is full
//! ([`BATCH_SAMPLES`]), with a heartbeat service check at most every [`HEARTBEAT_INTERVAL_MS`]
//! (the uptime series already shows the device alive at every flush); one boot log line and boot
//! event; a log entry when the temperature rises above the warning level; series and logs go
//! deflated (zlib) when that is smaller; re-provision when Datadog refuses the key (reporting the
//! 403 to the gateway), at 80 % of the lease, and periodically to pick up a new key version.
//!
//! Submission follows the lease ([`crate::lease`]): it stops when the lease ends unrenewed, when
//! the gateway answers `revoked` or `not_connected`, and when Datadog answers 403; sampling goes
//! on into the bounded queue meanwhile (overflow is counted, in the uploader's
//! `dropped_queue_overflow` and in [`DeviceReport::dropped_while_stopped`]), and an approval
//! resumes submitting and drains it.
//!
//! Requests share one kept-alive connection ([`Connection`]): a new one is opened only when the
//! last one closed, sat idle for [`CONNECTION_IDLE_TIMEOUT_MS`], or the next payload goes to the
//! other intake host; it is also closed before provisioning, so a board with a single TCP socket
//! can reach the gateway.
//!
//! Generic over the network (`embedded-nal-async`), the tick source and the RNG, so a board and
//! the desktop simulator run the same code. Every sampled point is accounted for in
//! [`PointAccounting`]: accepted, dropped (with the uploader's reason), or still on the device.

use core::fmt::Write as _;

use ddlink_core::checks::{CheckBatch, CheckStatus, ServiceCheck};
use ddlink_core::clock::{TimeSample, WallClock};
use ddlink_core::deflate::{Format, compress_into};
use ddlink_core::events::{AlertType, Event};
use ddlink_core::http::{ContentEncoding, Endpoint};
use ddlink_core::json::PushError;
use ddlink_core::logs::{LogBatch, LogEntry, LogStatus};
use ddlink_core::metrics::{MetricType, Point, Resource, Series, SeriesBatch};
use ddlink_core::net::{
    Connection, NetBuffers, QueueError, RetryCause, Security, SendReport, TlsBuffers, Uploader,
    UploaderCounters,
};
use ddlink_core::provision::{DeviceIdentity, DeviceSecret, ProvisionOutcome};
use ddlink_core::retry::BackoffConfig;
use ddlink_core::site::SandboxPolicy;
use embedded_nal_async::{Dns, TcpConnect};
use rand_core::{CryptoRng, RngCore};

use crate::clock::Ticker;
use crate::lease::{Lease, Stopped};
use crate::provision_client::{GatewayAddress, ProvisionRequest, provision, rate_limit_wait_ms};
use crate::sensors::{Sensors, TEMPERATURE_WARNING_C};

/// Payloads the uploader can hold while offline.
pub const QUEUE_SLOTS: usize = 16;
/// Largest encoded payload: a full batch, deflated, fits (a batch that does not is split).
pub const SLOT_BYTES: usize = 1024;
/// Points sampled per interval: temperature, uptime, free queue slots.
pub const POINTS_PER_SAMPLE: u32 = 3;
/// Samples held for the next series payload; a full batch is flushed at once. 20 samples cover a
/// 10 s flush interval at 1 Hz twice over and deflate to well under a queue slot.
pub const BATCH_SAMPLES: usize = 20;
/// How often collected samples are flushed unless the firmware sets another interval (the
/// Datadog Agent flushes every 15 s).
pub const DEFAULT_FLUSH_INTERVAL_MS: u64 = 10_000;
/// A heartbeat service check goes with the first flush after this long since the last one: for
/// a monitor's "no data" alert, not a request per flush (a request costs more bytes on the wire
/// than the 30 points of a flush).
pub const HEARTBEAT_INTERVAL_MS: u64 = 60_000;
/// A kept-alive connection unused this long is closed: a 10 s flush interval keeps it busy, and
/// the device, not a server's idle timeout (60 s at common load balancers), decides when it ends.
pub const CONNECTION_IDLE_TIMEOUT_MS: u64 = 30_000;
/// Uncompressed series JSON of one batch: about 50 bytes per point plus the three series' names,
/// tags and resources.
const BATCH_JSON_BYTES: usize = 4096;
/// Waiting between provisioning attempts when the gateway is unreachable or pending.
const PROVISION_RETRY_MS: u64 = 2_000;
/// Upper bound on a single network operation (connect, TLS, request), so a dead peer cannot
/// stall sampling.
const NETWORK_TIMEOUT_MS: u64 = 10_000;

/// What a device needs to know at boot.
#[derive(Debug)]
pub struct DeviceConfig<'a> {
    /// The gateway's URL (`http://host:port`).
    pub gateway_url: &'a str,
    /// Fleet name.
    pub fleet: &'a str,
    /// This device's id (also its Datadog host name).
    pub device_id: &'a str,
    /// The factory secret.
    pub secret: DeviceSecret,
    /// How Datadog is reached (HTTPS with a trust anchor; plain HTTP only for a sandbox).
    pub security: Security<'a>,
    /// Whether a sandbox (`*.localhost`) site from the gateway is acceptable.
    pub sandbox: SandboxPolicy,
    /// Sampling period.
    pub interval_ms: u64,
    /// Ask the gateway again this often, to pick up a new key version.
    pub reprovision_every_ms: u64,
}

/// Per-point accounting: `sampled = batched + queued + dropped_at_submit` and, once the queue
/// drains, `queued = accepted + dropped_by_uploader`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PointAccounting {
    /// Points sampled.
    pub sampled: u64,
    /// Points collected for the next series payload, not yet queued.
    pub batched: u64,
    /// Points that entered the upload queue.
    pub queued: u64,
    /// Points Datadog accepted.
    pub accepted: u64,
    /// Points dropped (queue overflow, refused by Datadog, unencodable), with the uploader's
    /// counters telling why.
    pub dropped: u64,
}

impl PointAccounting {
    /// Points still on the device: in the batch or waiting in the queue.
    pub fn in_flight(&self) -> u64 {
        self.queued
            .saturating_sub(self.accepted)
            .saturating_sub(self.dropped_after_queueing())
            .saturating_add(self.batched)
    }

    fn dropped_after_queueing(&self) -> u64 {
        let never_queued = self
            .sampled
            .saturating_sub(self.batched)
            .saturating_sub(self.queued);
        self.dropped.saturating_sub(never_queued)
    }
}

/// The state a run ends with, for the simulator's summary and the end-to-end tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceReport {
    /// Successful provisionings (boot, re-provisioning, key-version changes).
    pub provisioned: u32,
    /// The key version last received.
    pub key_version: Option<u32>,
    /// Point accounting.
    pub points: PointAccounting,
    /// The uploader's counters (all payload kinds).
    pub uploader: UploaderCounters,
    /// Boot events submitted.
    pub boot_events: u32,
    /// Log entries submitted (the boot line and temperature warnings).
    pub logs_submitted: u32,
    /// Heartbeat checks submitted (at the first flush, then at most once a minute).
    pub heartbeats: u32,
    /// Why the most recent retry happened (what a board would log), if any.
    pub last_retry: Option<RetryCause>,
    /// Bytes deflate took off queued payloads (series and logs).
    pub deflate_saved_bytes: u64,
    /// Why the device is not submitting at the end of the run, if it is not.
    pub stopped: Option<Stopped>,
    /// Points dropped because the queue was full while submission was stopped (lease ended,
    /// refused by the gateway, key refused by Datadog); also in `points.dropped`.
    pub dropped_while_stopped: u64,
    /// Leases that ended before a renewal succeeded.
    pub lease_expiries: u32,
}

/// One sample's readings, kept until the batch is flushed.
#[derive(Debug, Clone, Copy)]
struct Sample {
    unix_s: i64,
    celsius: f64,
    uptime_s: u64,
    free_slots: usize,
}

/// Why samples did not become a queued payload.
enum Unqueued {
    /// Their payload does not fit the encoding buffer or a queue slot: try fewer.
    TooLarge,
    /// Invalid, or the queue is full (counted by the uploader): dropped.
    Refused,
}

/// When the run samples, when it stops, and when it gives up draining.
struct RunPlan {
    end_ms: u64,
    drain_end_ms: u64,
    next_sample_ms: u64,
}

/// The running firmware.
pub struct Device<'a, K: Ticker, R, S> {
    config: DeviceConfig<'a>,
    ticker: K,
    rng: R,
    sensors: S,
    uploader: Uploader<'a, QUEUE_SLOTS, SLOT_BYTES>,
    tls: TlsBuffers<'a>,
    wall: WallClock,
    /// The last sample was above the warning level (a warning is logged on the way up).
    too_warm: bool,
    batch: heapless::Vec<Sample, BATCH_SAMPLES>,
    /// When the oldest batched sample was taken (monotonic ms).
    batch_started_ms: u64,
    flush_interval_ms: u64,
    next_heartbeat_ms: u64,
    report: DeviceReport,
    boot_ms: u64,
    next_provision_ms: u64,
    boot_event_sent: bool,
    lease: Lease,
}

impl<K: Ticker, R, S> core::fmt::Debug for Device<'_, K, R, S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Device")
            .field("device_id", &self.config.device_id)
            .field("report", &self.report)
            .finish()
    }
}

impl<'a, K: Ticker, R: RngCore + CryptoRng, S: Sensors> Device<'a, K, R, S> {
    /// A device that has not provisioned yet, flushing every [`DEFAULT_FLUSH_INTERVAL_MS`].
    /// `buffers` are the uploader's and its connections' network buffers; `rng` keys TLS and
    /// provisioning; `sensors` are read every interval.
    pub fn new(
        config: DeviceConfig<'a>,
        buffers: NetBuffers<'a>,
        ticker: K,
        rng: R,
        sensors: S,
    ) -> Self {
        let (exchange, tls) = buffers.split();
        let uploader = Uploader::new(config.security, exchange, BackoffConfig::default())
            .with_idle_timeout_ms(CONNECTION_IDLE_TIMEOUT_MS);
        let boot_ms = ticker.now_ms();
        Self {
            config,
            ticker,
            rng,
            sensors,
            uploader,
            tls,
            wall: WallClock::new(),
            too_warm: false,
            batch: heapless::Vec::new(),
            batch_started_ms: boot_ms,
            flush_interval_ms: DEFAULT_FLUSH_INTERVAL_MS,
            next_heartbeat_ms: boot_ms,
            report: DeviceReport::default(),
            boot_ms,
            next_provision_ms: boot_ms,
            boot_event_sent: false,
            lease: Lease::new(),
        }
    }

    /// Flushes collected samples every `flush_interval_ms` instead (at least every sample).
    #[must_use]
    pub fn with_flush_interval_ms(mut self, flush_interval_ms: u64) -> Self {
        self.flush_interval_ms = flush_interval_ms;
        self
    }

    /// The counters so far.
    pub fn report(&self) -> DeviceReport {
        let mut report = self.report;
        report.uploader = self.uploader.counters();
        report.stopped = self.lease.stopped();
        report
    }

    /// Runs for `duration_ms`, then keeps sending (without sampling) for up to `drain_ms` so the
    /// queue empties, and returns the final report.
    pub async fn run<T: TcpConnect, D: Dns>(
        &mut self,
        tcp: &T,
        dns: &D,
        duration_ms: u64,
        drain_ms: u64,
    ) -> DeviceReport {
        let end_ms = self.boot_ms.saturating_add(duration_ms);
        let mut plan = RunPlan {
            end_ms,
            drain_end_ms: end_ms.saturating_add(drain_ms),
            next_sample_ms: self.boot_ms,
        };
        // Each connection borrows the TLS buffers while it lives; they return here between
        // connections.
        let mut tls = core::mem::take(&mut self.tls);
        while !self
            .run_on_connection(&mut tls.connection(), tcp, dns, &mut plan)
            .await
        {}
        self.tls = tls;
        self.report()
    }

    /// The run loop on one connection: returns `false` when the connection has closed (the caller
    /// opens the next), `true` when the run is over.
    async fn run_on_connection<'t, T: TcpConnect, D: Dns>(
        &mut self,
        connection: &mut Connection<'_, T::Connection<'t>>,
        tcp: &'t T,
        dns: &D,
        plan: &mut RunPlan,
    ) -> bool {
        loop {
            if connection.is_closed() {
                return false;
            }
            let now = self.ticker.now_ms();
            if self.lease.check_expiry(now) {
                // The key may not be used any more: forget it until a renewal succeeds.
                self.uploader.forget_credentials();
                self.report.lease_expiries += 1;
            }
            let sampling = now < plan.end_ms;
            if !sampling {
                self.flush();
            }
            if now >= plan.drain_end_ms || (!sampling && self.uploader.queued() == 0) {
                connection.close().await;
                return true;
            }
            if self.uploader.close_if_idle(connection, now).await {
                return false;
            }
            if now >= self.next_provision_ms {
                if connection.is_open() {
                    // Frees the TCP socket for the gateway (a board may have only one).
                    connection.close().await;
                    return false;
                }
                self.provision_once(tcp, dns).await;
            }
            // Sampling needs the wall clock, set by the first approval; it goes on while
            // submission is stopped (the queue buffers).
            let can_sample = sampling && self.lease.ever_approved();
            if can_sample && now >= plan.next_sample_ms {
                self.sample();
                plan.next_sample_ms = plan
                    .next_sample_ms
                    .saturating_add(self.config.interval_ms.max(1));
            }
            if self.batch.is_full() || now >= self.flush_due_ms() {
                self.flush();
            }
            let wake = self.pump(connection, tcp, dns).await;
            let mut deadline = wake.min(self.next_provision_ms).min(plan.drain_end_ms);
            if let Some(lease_end) = self.lease.expires_at_ms() {
                deadline = deadline.min(lease_end);
            }
            if can_sample {
                deadline = deadline.min(plan.next_sample_ms).min(plan.end_ms);
            }
            if let Some(idle) = self.uploader.idle_deadline_ms(connection) {
                deadline = deadline.min(idle);
            }
            self.ticker
                .sleep_until_ms(deadline.min(self.flush_due_ms()))
                .await;
        }
    }

    /// When the batch must be flushed (never while it is empty).
    fn flush_due_ms(&self) -> u64 {
        if self.batch.is_empty() {
            u64::MAX
        } else {
            self.batch_started_ms
                .saturating_add(self.flush_interval_ms.max(1))
        }
    }

    /// Sends until the queue is empty, must wait, or the connection closed; returns when to come
    /// back.
    async fn pump<'t, T: TcpConnect, D: Dns>(
        &mut self,
        connection: &mut Connection<'_, T::Connection<'t>>,
        tcp: &'t T,
        dns: &D,
    ) -> u64 {
        loop {
            let now = self.ticker.now_ms();
            let attempt = self
                .uploader
                .send_next(connection, tcp, dns, now, &mut self.rng);
            let report = match embassy_time::with_timeout(
                embassy_time::Duration::from_millis(NETWORK_TIMEOUT_MS),
                attempt,
            )
            .await
            {
                Ok(report) => report,
                // The payload stays queued and the connection is retired; try again after a
                // pause.
                Err(_) => return now.saturating_add(PROVISION_RETRY_MS),
            };
            match report {
                SendReport::Idle | SendReport::NeedsCredentials => return u64::MAX,
                SendReport::Waiting { until_ms } => return until_ms,
                SendReport::Reconnect => return now,
                SendReport::Accepted(info) => {
                    self.lease.accepted();
                    if info.endpoint == Endpoint::SeriesV2 {
                        self.report.points.accepted += u64::from(info.items);
                    }
                }
                SendReport::Dropped(info, _) => {
                    if info.endpoint == Endpoint::SeriesV2 {
                        self.report.points.dropped += u64::from(info.items);
                    }
                }
                SendReport::Retrying {
                    until_ms, cause, ..
                } => {
                    self.report.last_retry = Some(cause);
                    return until_ms;
                }
                SendReport::Reprovision => {
                    // The payload stays queued; the gateway hears of the 403 at once.
                    self.next_provision_ms = self.lease.forbidden(now);
                    return self.next_provision_ms;
                }
            }
        }
    }

    async fn provision_once<T: TcpConnect, D: Dns>(&mut self, tcp: &T, dns: &D) {
        let now = self.ticker.now_ms();
        self.next_provision_ms = now.saturating_add(PROVISION_RETRY_MS);
        let (Ok(gateway), Ok(identity)) = (
            GatewayAddress::parse(self.config.gateway_url),
            DeviceIdentity::new(
                self.config.fleet,
                self.config.device_id,
                &self.config.secret,
            ),
        ) else {
            // Misconfigured: nothing will ever work; keep sampling nothing and retry rarely.
            self.next_provision_ms = u64::MAX;
            return;
        };
        let sent_at_ms = now;
        let outcome = embassy_time::with_timeout(
            embassy_time::Duration::from_millis(NETWORK_TIMEOUT_MS),
            provision(
                tcp,
                dns,
                gateway,
                ProvisionRequest {
                    identity,
                    sandbox: self.config.sandbox,
                    last_error: self.lease.last_error(),
                },
                &mut self.rng,
            ),
        )
        .await;
        let received_at_ms = self.ticker.now_ms();
        match outcome {
            Ok(Ok(ProvisionOutcome::Approved(provisioned))) => {
                let changed = self.report.key_version != Some(provisioned.key_version)
                    || !self.uploader.has_credentials();
                if changed
                    && self
                        .uploader
                        .set_credentials(provisioned.site, provisioned.api_key)
                        .is_ok()
                {
                    self.report.provisioned += 1;
                    self.report.key_version = Some(provisioned.key_version);
                }
                // The sealed server_time is authenticated: it sets the wall clock.
                let _ = self.wall.sync(TimeSample {
                    server_unix_s: provisioned.server_time,
                    sent_at_ms,
                    received_at_ms,
                });
                if self.uploader.has_credentials() {
                    self.lease.approved(sent_at_ms, provisioned.lease_secs);
                }
                self.next_provision_ms = received_at_ms
                    .saturating_add(self.config.reprovision_every_ms.max(1))
                    .min(self.lease.renew_at_ms());
                if !self.boot_event_sent && self.uploader.has_credentials() {
                    self.submit_boot_event();
                }
            }
            // Refused: stop submitting at once (the queue keeps buffering) and ask again with
            // back-off.
            Ok(Ok(ProvisionOutcome::Revoked)) => self.stop(received_at_ms, Stopped::Revoked),
            Ok(Ok(ProvisionOutcome::NotConnected)) => {
                self.stop(received_at_ms, Stopped::NotConnected);
            }
            // Either step rate limited: wait as asked (at most an hour, see `rate_limit_wait_ms`).
            // Pending, network or protocol failures: try again soon (the lease, if any, runs on).
            Ok(attempt) => {
                if let Some(wait_ms) = rate_limit_wait_ms(&attempt) {
                    self.next_provision_ms = received_at_ms.saturating_add(wait_ms);
                }
            }
            Err(_) => {}
        }
    }

    /// The gateway refused the device: forget the key, ask again after the lease's back-off.
    fn stop(&mut self, now_ms: u64, why: Stopped) {
        self.uploader.forget_credentials();
        self.next_provision_ms = self.lease.refused(now_ms, why);
    }

    fn unix_now(&self) -> Option<i64> {
        self.wall
            .now_unix_s(self.ticker.now_ms())
            .ok()
            .and_then(|s| i64::try_from(s).ok())
    }

    /// Takes one sample into the batch (and logs a warning when it gets too warm).
    fn sample(&mut self) {
        let Some(now) = self.unix_now() else {
            return;
        };
        let celsius = self.sensors.temperature_c();
        let now_ms = self.ticker.now_ms();
        let sample = Sample {
            unix_s: now,
            celsius,
            uptime_s: now_ms.saturating_sub(self.boot_ms) / 1_000,
            free_slots: self.uploader.free_slots(),
        };
        if self.batch.is_empty() {
            self.batch_started_ms = now_ms;
        }
        // The loop flushes a full batch before the next sample, so there is room.
        if self.batch.push(sample).is_ok() {
            self.report.points.sampled += u64::from(POINTS_PER_SAMPLE);
            self.report.points.batched += u64::from(POINTS_PER_SAMPLE);
        }
        let too_warm = celsius > TEMPERATURE_WARNING_C;
        if too_warm && !self.too_warm {
            self.submit_log("temperature above 30 C", LogStatus::Warning, now);
        }
        self.too_warm = too_warm;
    }

    /// Queues the batch as series payloads (as few as fit a queue slot), and a heartbeat when
    /// one is due.
    fn flush(&mut self) {
        let batch = core::mem::take(&mut self.batch);
        let Some(last) = batch.last() else {
            return;
        };
        let now = self.unix_now().unwrap_or(last.unix_s);
        let mut rest = batch.as_slice();
        while !rest.is_empty() {
            // Halve a chunk that does not fit one slot until it does (one sample always does).
            let mut take = rest.len();
            let (chunk, outcome) = loop {
                let chunk = rest.get(..take).unwrap_or(rest);
                match self.submit_samples(chunk, now) {
                    Err(Unqueued::TooLarge) if take > 1 => take = take.div_ceil(2),
                    outcome => break (chunk, outcome),
                }
            };
            let points = u64::from(POINTS_PER_SAMPLE) * chunk.len() as u64;
            self.report.points.batched = self.report.points.batched.saturating_sub(points);
            match outcome {
                Ok(()) => self.report.points.queued += points,
                // Queue overflow is also counted by the uploader, with its reason.
                Err(_) => {
                    self.report.points.dropped += points;
                    if self.lease.stopped().is_some() {
                        self.report.dropped_while_stopped += points;
                    }
                }
            }
            rest = rest.get(chunk.len()..).unwrap_or(&[]);
        }
        let now_ms = self.ticker.now_ms();
        if now_ms >= self.next_heartbeat_ms {
            self.next_heartbeat_ms = now_ms.saturating_add(HEARTBEAT_INTERVAL_MS);
            self.submit_heartbeat(now);
        }
    }

    /// Encodes `samples` as one series payload and queues it.
    fn submit_samples(&mut self, samples: &[Sample], now: i64) -> Result<(), Unqueued> {
        let mut temperature = [Point::new(0, 0.0); BATCH_SAMPLES];
        let mut uptime = [Point::new(0, 0.0); BATCH_SAMPLES];
        let mut free = [Point::new(0, 0.0); BATCH_SAMPLES];
        for (index, sample) in samples.iter().enumerate() {
            if let (Some(t), Some(u), Some(f)) = (
                temperature.get_mut(index),
                uptime.get_mut(index),
                free.get_mut(index),
            ) {
                *t = Point::new(sample.unix_s, sample.celsius);
                #[allow(
                    clippy::cast_precision_loss,
                    reason = "uptime and slot counts are small"
                )]
                {
                    *u = Point::new(sample.unix_s, sample.uptime_s as f64);
                    *f = Point::new(sample.unix_s, sample.free_slots as f64);
                }
            }
        }
        let count = samples.len().min(BATCH_SAMPLES);
        let host = [Resource::host(self.config.device_id)];
        let tags = ["firmware:ddlink-example"];
        let series = [
            Series::new(
                "ddlink.device.temperature",
                MetricType::Gauge,
                temperature.get(..count).unwrap_or(&[]),
            )
            .with_unit("degree")
            .with_resources(&host)
            .with_tags(&tags),
            Series::new(
                "ddlink.device.uptime",
                MetricType::Gauge,
                uptime.get(..count).unwrap_or(&[]),
            )
            .with_unit("second")
            .with_resources(&host)
            .with_tags(&tags),
            Series::new(
                "ddlink.device.queue_free",
                MetricType::Gauge,
                free.get(..count).unwrap_or(&[]),
            )
            .with_resources(&host)
            .with_tags(&tags),
        ];
        let mut buffer = [0u8; BATCH_JSON_BYTES];
        let mut batch = SeriesBatch::new(&mut buffer).map_err(|_| Unqueued::TooLarge)?;
        for one in &series {
            batch.push(one, Some(now)).map_err(|error| match error {
                PushError::Invalid(_) => Unqueued::Refused,
                PushError::Full | PushError::TooLarge => Unqueued::TooLarge,
            })?;
        }
        let items = u32::try_from(count).unwrap_or(u32::MAX) * POINTS_PER_SAMPLE;
        self.submit_compact(Endpoint::SeriesV2, items, batch.finish())
            .map_err(|error| match error {
                QueueError::TooLarge => Unqueued::TooLarge,
                QueueError::Full | QueueError::Empty | QueueError::EncodingNotAccepted => {
                    Unqueued::Refused
                }
            })
    }

    /// Queues `body`, deflated (zlib) when the endpoint accepts that and it comes out smaller.
    fn submit_compact(
        &mut self,
        endpoint: Endpoint,
        items: u32,
        body: &[u8],
    ) -> Result<(), QueueError> {
        if endpoint.accepts_encoding(ContentEncoding::Deflate) {
            let mut packed = [0u8; SLOT_BYTES];
            // A body that does not shrink into one slot goes as it is.
            if let Ok(len) = compress_into(Format::Zlib, body, &mut packed)
                && len < body.len()
                && let Some(packed) = packed.get(..len)
            {
                self.uploader
                    .submit(endpoint, ContentEncoding::Deflate, items, packed)?;
                self.report.deflate_saved_bytes = self
                    .report
                    .deflate_saved_bytes
                    .saturating_add(u64::try_from(body.len().saturating_sub(len)).unwrap_or(0));
                return Ok(());
            }
        }
        self.uploader
            .submit(endpoint, ContentEncoding::Identity, items, body)
    }

    fn submit_boot_event(&mut self) {
        let now = self.unix_now();
        let text = "ddlink example firmware started and provisioned";
        let mut event = Event::new("Device booted", text);
        event.host = Some(self.config.device_id);
        event.alert_type = Some(AlertType::Info);
        event.date_happened = now;
        event.aggregation_key = Some("ddlink-boot");
        let mut buffer = [0u8; SLOT_BYTES];
        // Both or neither (the next provisioning tries again): the log line must not repeat.
        if self.uploader.free_slots() < 2 {
            return;
        }
        if let Ok(body) = event.encode(now, &mut buffer) {
            // The log line goes first: it is the only payload for the logs host, so the
            // connection switches hosts once and then stays on the API host.
            if let Some(now) = now {
                self.submit_boot_log(now);
            }
            if self
                .uploader
                .submit(Endpoint::EventsV1, ContentEncoding::Identity, 1, body)
                .is_ok()
            {
                self.report.boot_events += 1;
                self.boot_event_sent = true;
            }
        }
    }

    /// The boot log line: which key version the device runs with.
    fn submit_boot_log(&mut self, now: i64) {
        let mut line = heapless::String::<64>::new();
        let version = self.report.key_version.unwrap_or_default();
        // Cannot fail: 34 bytes of text and at most 10 digits fit in 64.
        let _ = write!(line, "firmware started, API key version {version}");
        self.submit_log(&line, LogStatus::Info, now);
    }

    fn submit_log(&mut self, message: &str, status: LogStatus, now: i64) {
        let entry = LogEntry::new(message)
            .with_source("ddlink-firmware")
            .with_hostname(self.config.device_id)
            .with_service("ddlink-example")
            .with_status(status)
            .with_timestamp_ms(now.saturating_mul(1_000));
        let mut buffer = [0u8; SLOT_BYTES];
        let Ok(mut batch) = LogBatch::new(&mut buffer) else {
            return;
        };
        if batch.push(&entry, Some(now)).is_ok()
            && self
                .submit_compact(Endpoint::LogsV2, 1, batch.finish())
                .is_ok()
        {
            self.report.logs_submitted += 1;
        }
    }

    fn submit_heartbeat(&mut self, now: i64) {
        let check = ServiceCheck::new(
            "ddlink.device.heartbeat",
            self.config.device_id,
            CheckStatus::Ok,
        )
        .with_timestamp(now);
        let mut buffer = [0u8; 512];
        let Ok(mut batch) = CheckBatch::new(&mut buffer) else {
            return;
        };
        if batch.push(&check, Some(now)).is_ok()
            && self
                .uploader
                .submit(
                    Endpoint::CheckRunV1,
                    ContentEncoding::Identity,
                    1,
                    batch.finish(),
                )
                .is_ok()
        {
            self.report.heartbeats += 1;
        }
    }
}
