//! The run's accounting, cross-checked against what the emulator actually received.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use ddlink_emulator::SeriesRecord;

use crate::device::{DeviceReport, POINTS_PER_SAMPLE};

/// The metric whose (timestamp, random value) identifies a sample.
const SAMPLE_ID_METRIC: &str = "ddlink.device.temperature";

#[derive(Default)]
struct HostPoints {
    total: u64,
    samples: BTreeMap<(i64, u64), u64>,
}

/// One simulated device's outcome.
#[derive(Debug, Clone)]
pub struct DeviceRun {
    pub device_id: String,
    pub report: DeviceReport,
    /// Stack high-water mark a board image reported, in bytes (board devices only).
    pub stack_peak: Option<u64>,
    /// TCP payload bytes its router relayed both ways (none on the host's sockets).
    pub wire_bytes: Option<u64>,
}

/// Totals over every device, with the emulator's view.
///
/// `lost` counts points that are neither accepted, nor still queued, nor dropped with a reason,
/// plus points a device saw accepted that the emulator does not hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub devices: u64,
    /// Devices that provisioned at least once.
    pub provisioned: u64,
    /// Points sampled (each is meant to be sent).
    pub points_sent: u64,
    /// Points the devices saw accepted (202).
    pub points_accepted: u64,
    /// Points still queued on the devices at the end.
    pub points_queued: u64,
    /// Points dropped with a reason (queue overflow, refused by Datadog).
    pub points_dropped: u64,
    /// Distinct points of these devices the emulator holds.
    pub points_received: u64,
    /// Extra copies the emulator holds (a retry after an answer was lost).
    pub duplicates: u64,
    /// Points some device saw accepted but the emulator does not hold.
    pub missing: u64,
    /// See the type's documentation; 0 in a correct run.
    pub lost: u64,
    /// Intake requests the devices sent (every attempt).
    pub requests: u64,
    /// TLS sessions the intake completed (each one a full handshake); set by the world.
    pub tls_sessions: u64,
    /// TCP payload bytes of every device both ways, TLS records and provisioning included;
    /// `None` unless every device ran behind a router that counts them.
    pub wire_bytes: Option<u64>,
}

impl Tally {
    /// Adds up `runs` and compares each device's accepted points with the points the emulator
    /// received from that host. A sample is recognised by its temperature point (timestamp and
    /// random value): a second copy of it means its whole batch arrived twice.
    pub fn new(runs: &[DeviceRun], received: &[SeriesRecord]) -> Self {
        let ours: BTreeSet<&str> = runs.iter().map(|r| r.device_id.as_str()).collect();
        let mut per_host: BTreeMap<&str, HostPoints> = BTreeMap::new();
        for record in received {
            let Some(host) = record.host.as_deref().filter(|h| ours.contains(h)) else {
                continue;
            };
            let entry = per_host.entry(host).or_default();
            entry.total += record.points.len() as u64;
            if record.metric == SAMPLE_ID_METRIC {
                for point in &record.points {
                    *entry
                        .samples
                        .entry((point.timestamp, point.value.to_bits()))
                        .or_default() += 1;
                }
            }
        }
        let mut tally = Self {
            wire_bytes: Some(0),
            ..Self::default()
        };
        for run in runs {
            let points = run.report.points;
            let (distinct, duplicates) = per_host
                .get(run.device_id.as_str())
                .map(|h| {
                    let extra_samples: u64 = h.samples.values().map(|n| n - 1).sum();
                    let duplicates = extra_samples * u64::from(POINTS_PER_SAMPLE);
                    (h.total.saturating_sub(duplicates), duplicates)
                })
                .unwrap_or_default();
            tally.devices += 1;
            tally.provisioned += u64::from(run.report.provisioned > 0);
            tally.points_sent += points.sampled;
            tally.points_accepted += points.accepted;
            tally.points_queued += points.in_flight();
            tally.points_dropped += points.dropped;
            tally.points_received += distinct;
            tally.duplicates += duplicates;
            tally.missing += points.accepted.saturating_sub(distinct);
            tally.requests += u64::from(run.report.uploader.sent);
            tally.wire_bytes = tally
                .wire_bytes
                .zip(run.wire_bytes)
                .map(|(total, bytes)| total + bytes);
            tally.lost += points
                .sampled
                .saturating_sub(points.accepted)
                .saturating_sub(points.in_flight())
                .saturating_sub(points.dropped)
                + points.accepted.saturating_sub(distinct);
        }
        tally
    }

    /// Bytes on the wire per accepted point, when the bytes were counted and a point accepted.
    #[allow(clippy::cast_precision_loss, reason = "a ratio for people to read")]
    pub fn wire_bytes_per_point(&self) -> Option<f64> {
        let bytes = self.wire_bytes?;
        (self.points_accepted > 0).then(|| bytes as f64 / self.points_accepted as f64)
    }

    /// Every device provisioned and nothing was lost.
    pub fn success(&self) -> bool {
        self.provisioned == self.devices && self.lost == 0
    }

    /// The details line printed before the summary.
    pub fn details(&self) -> String {
        format!(
            "accounting: queued_at_end={} dropped_with_reason={} emulator_distinct_points={} duplicates={} accepted_but_missing={}",
            self.points_queued,
            self.points_dropped,
            self.points_received,
            self.duplicates,
            self.missing
        )
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "summary: devices={} provisioned={} points_sent={} points_accepted={} lost={} tls_sessions={}",
            self.devices,
            self.provisioned,
            self.points_sent,
            self.points_accepted,
            self.lost,
            self.tls_sessions
        )?;
        match self.wire_bytes_per_point() {
            Some(ratio) => write!(f, " wire_bytes_per_point={ratio:.1}"),
            None => f.write_str(" wire_bytes_per_point=n/a"),
        }
    }
}
