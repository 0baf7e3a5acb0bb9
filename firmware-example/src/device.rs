//! The firmware application: provision at boot, then every interval sample the sensors and
//! submit a v2 series batch and a heartbeat service check; one boot event and boot log line; a
//! log entry for each warning; series and logs go deflated (zlib) when that is smaller;
//! re-provision when Datadog refuses the key or the gateway hands out a new key version.
//!
//! Generic over the network (`embedded-nal-async`), the tick source and the RNG, so a board and
//! the desktop simulator run the same code. Every sampled point is accounted for in
//! [`PointAccounting`]: accepted, dropped (with the uploader's reason), or still queued.

use core::fmt::Write as _;

use ddlink_core::checks::{CheckBatch, CheckStatus, ServiceCheck};
use ddlink_core::clock::{TimeSample, WallClock};
use ddlink_core::deflate::{Format, compress_into};
use ddlink_core::events::{AlertType, Event};
use ddlink_core::http::{ContentEncoding, Endpoint};
use ddlink_core::logs::{LogBatch, LogEntry, LogStatus};
use ddlink_core::metrics::{MetricType, Point, Resource, Series, SeriesBatch};
use ddlink_core::net::{
    NetBuffers, QueueError, RetryCause, Security, SendReport, Uploader, UploaderCounters,
};
use ddlink_core::provision::{DeviceIdentity, DeviceSecret, ProvisionOutcome};
use ddlink_core::retry::BackoffConfig;
use ddlink_core::site::SandboxPolicy;
use embedded_nal_async::{Dns, TcpConnect};
use rand_core::{CryptoRng, RngCore};

use crate::clock::Ticker;
use crate::gateway::{GatewayAddress, provision, rate_limit_wait_ms};
use crate::sensors::{TEMPERATURE_WARNING_C, TemperatureWalk};

/// Payloads the uploader can hold while offline.
pub const QUEUE_SLOTS: usize = 16;
/// Largest encoded payload (one interval's series batch fits with room to spare).
pub const SLOT_BYTES: usize = 1024;
/// Points sampled per interval: temperature, uptime, free queue slots.
pub const POINTS_PER_SAMPLE: u32 = 3;
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

/// Per-point accounting: `sampled = queued + dropped_at_submit` and, once the queue drains,
/// `queued = accepted + dropped_by_uploader`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PointAccounting {
    /// Points sampled.
    pub sampled: u64,
    /// Points that entered the upload queue.
    pub queued: u64,
    /// Points Datadog accepted.
    pub accepted: u64,
    /// Points dropped (queue overflow, refused by Datadog, unencodable), with the uploader's
    /// counters telling why.
    pub dropped: u64,
}

impl PointAccounting {
    /// Points still waiting in the queue.
    pub fn in_flight(&self) -> u64 {
        self.queued
            .saturating_sub(self.accepted)
            .saturating_sub(self.dropped_after_queueing())
    }

    fn dropped_after_queueing(&self) -> u64 {
        self.dropped
            .saturating_sub(self.sampled.saturating_sub(self.queued))
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
    /// Heartbeat checks submitted.
    pub heartbeats: u32,
    /// Why the most recent retry happened (what a board would log), if any.
    pub last_retry: Option<RetryCause>,
    /// Bytes deflate took off queued payloads (series and logs).
    pub deflate_saved_bytes: u64,
}

/// The running firmware.
pub struct Device<'a, K: Ticker, R> {
    config: DeviceConfig<'a>,
    ticker: K,
    rng: R,
    uploader: Uploader<'a, QUEUE_SLOTS, SLOT_BYTES>,
    wall: WallClock,
    temperature: TemperatureWalk,
    report: DeviceReport,
    boot_ms: u64,
    next_provision_ms: u64,
    boot_event_sent: bool,
}

impl<K: Ticker, R> core::fmt::Debug for Device<'_, K, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Device")
            .field("device_id", &self.config.device_id)
            .field("report", &self.report)
            .finish()
    }
}

impl<'a, K: Ticker, R: RngCore + CryptoRng> Device<'a, K, R> {
    /// A device that has not provisioned yet. `buffers` are the uploader's network buffers.
    pub fn new(config: DeviceConfig<'a>, buffers: NetBuffers<'a>, ticker: K, rng: R) -> Self {
        let uploader = Uploader::new(config.security, buffers, BackoffConfig::default());
        let boot_ms = ticker.now_ms();
        Self {
            config,
            ticker,
            rng,
            uploader,
            wall: WallClock::new(),
            temperature: TemperatureWalk::new(21.0),
            report: DeviceReport::default(),
            boot_ms,
            next_provision_ms: boot_ms,
            boot_event_sent: false,
        }
    }

    /// The counters so far.
    pub fn report(&self) -> DeviceReport {
        let mut report = self.report;
        report.uploader = self.uploader.counters();
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
        let mut next_sample_ms = self.boot_ms;
        loop {
            let now = self.ticker.now_ms();
            if now >= end_ms {
                break;
            }
            if now >= self.next_provision_ms {
                self.provision_once(tcp, dns).await;
            }
            if self.uploader.has_credentials() && now >= next_sample_ms {
                self.sample_and_submit();
                next_sample_ms = next_sample_ms.saturating_add(self.config.interval_ms.max(1));
            }
            let wake = self.pump(tcp, dns).await;
            let deadline = wake
                .min(next_sample_ms)
                .min(self.next_provision_ms)
                .min(end_ms);
            self.ticker.sleep_until_ms(deadline).await;
        }
        let drain_end = self.ticker.now_ms().saturating_add(drain_ms);
        while self.uploader.queued() > 0 && self.ticker.now_ms() < drain_end {
            if self.ticker.now_ms() >= self.next_provision_ms {
                self.provision_once(tcp, dns).await;
            }
            let wake = self.pump(tcp, dns).await;
            self.ticker
                .sleep_until_ms(wake.min(drain_end).min(self.next_provision_ms))
                .await;
        }
        self.report()
    }

    /// Sends until the queue is empty or must wait; returns when to come back.
    async fn pump<T: TcpConnect, D: Dns>(&mut self, tcp: &T, dns: &D) -> u64 {
        loop {
            let now = self.ticker.now_ms();
            let attempt = self.uploader.send_next(tcp, dns, now, &mut self.rng);
            let report = match embassy_time::with_timeout(
                embassy_time::Duration::from_millis(NETWORK_TIMEOUT_MS),
                attempt,
            )
            .await
            {
                Ok(report) => report,
                // The payload stays queued; try again after a pause.
                Err(_) => return now.saturating_add(PROVISION_RETRY_MS),
            };
            match report {
                SendReport::Idle | SendReport::NeedsCredentials => return u64::MAX,
                SendReport::Waiting { until_ms } => return until_ms,
                SendReport::Accepted(info) => {
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
                    self.next_provision_ms = now;
                    return now;
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
                identity,
                self.config.sandbox,
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
                self.next_provision_ms =
                    received_at_ms.saturating_add(self.config.reprovision_every_ms.max(1));
                if !self.boot_event_sent && self.uploader.has_credentials() {
                    self.submit_boot_event();
                }
            }
            // Either step rate limited: wait as asked (at most an hour, see `rate_limit_wait_ms`).
            // Pending, revoked, not connected, network or protocol failures: try again soon.
            Ok(attempt) => {
                if let Some(wait_ms) = rate_limit_wait_ms(&attempt) {
                    self.next_provision_ms = received_at_ms.saturating_add(wait_ms);
                }
            }
            Err(_) => {}
        }
    }

    fn unix_now(&self) -> Option<i64> {
        self.wall
            .now_unix_s(self.ticker.now_ms())
            .ok()
            .and_then(|s| i64::try_from(s).ok())
    }

    fn sample_and_submit(&mut self) {
        let Some(now) = self.unix_now() else {
            return;
        };
        let celsius = self.temperature.sample(&mut self.rng);
        let uptime_s = self.ticker.now_ms().saturating_sub(self.boot_ms) / 1_000;
        let free_slots = self.uploader.free_slots();
        self.report.points.sampled += u64::from(POINTS_PER_SAMPLE);

        let temperature = [Point::new(now, celsius)];
        #[allow(
            clippy::cast_precision_loss,
            reason = "uptime and slot counts are small"
        )]
        let uptime = [Point::new(now, uptime_s as f64)];
        #[allow(clippy::cast_precision_loss, reason = "slot counts are small")]
        let free = [Point::new(now, free_slots as f64)];
        let host = [Resource::host(self.config.device_id)];
        let tags = ["firmware:ddlink-example"];
        let series = [
            Series::new("ddlink.device.temperature", MetricType::Gauge, &temperature)
                .with_unit("degree")
                .with_resources(&host)
                .with_tags(&tags),
            Series::new("ddlink.device.uptime", MetricType::Gauge, &uptime)
                .with_unit("second")
                .with_resources(&host)
                .with_tags(&tags),
            Series::new("ddlink.device.queue_free", MetricType::Gauge, &free)
                .with_resources(&host)
                .with_tags(&tags),
        ];
        let mut buffer = [0u8; SLOT_BYTES];
        let encoded = SeriesBatch::new(&mut buffer).ok().and_then(|mut batch| {
            series
                .iter()
                .all(|s| batch.push(s, Some(now)).is_ok())
                .then(|| batch.finish())
        });
        match encoded {
            Some(body) => match self.submit_compact(Endpoint::SeriesV2, POINTS_PER_SAMPLE, body) {
                Ok(()) => self.report.points.queued += u64::from(POINTS_PER_SAMPLE),
                Err(_) => self.report.points.dropped += u64::from(POINTS_PER_SAMPLE),
            },
            None => self.report.points.dropped += u64::from(POINTS_PER_SAMPLE),
        }
        if celsius > TEMPERATURE_WARNING_C {
            self.submit_log("temperature above 30 C", LogStatus::Warning, now);
        }
        self.submit_heartbeat(now);
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
        if let Ok(body) = event.encode(now, &mut buffer)
            && self
                .uploader
                .submit(Endpoint::EventsV1, ContentEncoding::Identity, 1, body)
                .is_ok()
        {
            self.report.boot_events += 1;
            self.boot_event_sent = true;
            if let Some(now) = now {
                self.submit_boot_log(now);
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
