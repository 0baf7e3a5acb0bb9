//! The run's accounting, cross-checked against what the emulator actually received.

use std::collections::BTreeMap;
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
    /// The Datadog org its tenant connected: the only org its points may land in.
    pub org_id: String,
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
    /// Points some device saw accepted but the emulator does not hold in its tenant's org.
    pub missing: u64,
    /// Points of these devices the emulator holds in another tenant's org (0 unless the
    /// gateway handed a device another tenant's key).
    pub misrouted: u64,
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
    /// received from that host in the device's org; points of the host in any other org are
    /// misrouted (and count as missing). A sample is recognised by its temperature point
    /// (timestamp and random value): a second copy of it means its whole batch arrived twice.
    pub fn new(runs: &[DeviceRun], received: &[SeriesRecord]) -> Self {
        let org_of: BTreeMap<&str, &str> = runs
            .iter()
            .map(|r| (r.device_id.as_str(), r.org_id.as_str()))
            .collect();
        let mut per_host: BTreeMap<&str, HostPoints> = BTreeMap::new();
        let mut misrouted = 0;
        for record in received {
            let Some((host, org)) = record.host.as_deref().and_then(|h| org_of.get_key_value(h))
            else {
                continue;
            };
            if record.org_id != *org {
                misrouted += record.points.len() as u64;
                continue;
            }
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
            misrouted,
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

    /// Every device provisioned, nothing was lost and every point landed in its own tenant's org.
    pub fn success(&self) -> bool {
        self.provisioned == self.devices && self.lost == 0 && self.misrouted == 0
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
            Some(ratio) => write!(f, " wire_bytes_per_point={ratio:.1}")?,
            None => f.write_str(" wire_bytes_per_point=n/a")?,
        }
        write!(f, " misrouted={}", self.misrouted)
    }
}

#[cfg(test)]
mod tests {
    use ddlink_emulator::{Point, SeriesEndpoint};

    use super::*;
    use crate::device::PointAccounting;

    /// One sample's three series (temperature identifies it) from `host` in `org_id`.
    fn sample(host: &str, org_id: &str, timestamp: i64, value: f64) -> Vec<SeriesRecord> {
        [
            "ddlink.device.temperature",
            "ddlink.device.uptime",
            "ddlink.device.queue_free",
        ]
        .into_iter()
        .map(|metric| SeriesRecord {
            api_key_id: format!("key-of-{org_id}"),
            org_id: org_id.to_owned(),
            endpoint: SeriesEndpoint::V2,
            metric: metric.to_owned(),
            metric_type: "gauge".to_owned(),
            interval: None,
            tags: Vec::new(),
            host: Some(host.to_owned()),
            unit: None,
            points: vec![Point { timestamp, value }],
            received_at: timestamp,
        })
        .collect()
    }

    /// A device that sampled and saw accepted `samples` samples.
    fn run(device_id: &str, org_id: &str, samples: u64) -> DeviceRun {
        let points = samples * u64::from(POINTS_PER_SAMPLE);
        DeviceRun {
            device_id: device_id.to_owned(),
            org_id: org_id.to_owned(),
            report: DeviceReport {
                provisioned: 1,
                points: PointAccounting {
                    sampled: points,
                    queued: points,
                    accepted: points,
                    ..PointAccounting::default()
                },
                ..DeviceReport::default()
            },
            stack_peak: None,
            wire_bytes: None,
        }
    }

    #[test]
    fn points_in_their_own_org_are_received_and_nothing_is_misrouted() {
        let runs = [run("a-1", "org-a", 2), run("b-1", "org-b", 1)];
        let received: Vec<_> = [
            sample("a-1", "org-a", 10, 1.5),
            sample("a-1", "org-a", 11, 2.5),
            sample("b-1", "org-b", 10, 3.5),
            // Another customer's host of the same name elsewhere is not ours to count.
            sample("c-1", "org-a", 10, 4.5),
        ]
        .concat();
        let tally = Tally::new(&runs, &received);
        assert_eq!(tally.points_received, 9, "{tally:?}");
        assert_eq!((tally.misrouted, tally.missing, tally.lost), (0, 0, 0));
        assert!(tally.success(), "{tally:?}");
        assert!(tally.to_string().ends_with(" misrouted=0"), "{tally}");
    }

    #[test]
    fn a_point_in_another_tenants_org_is_misrouted_and_missing() {
        let runs = [run("a-1", "org-a", 2), run("b-1", "org-b", 1)];
        let received: Vec<_> = [
            sample("a-1", "org-a", 10, 1.5),
            // a-1's second sample landed in b's org: B's Datadog shows A's device.
            sample("a-1", "org-b", 11, 2.5),
            sample("b-1", "org-b", 10, 3.5),
        ]
        .concat();
        let tally = Tally::new(&runs, &received);
        assert_eq!(tally.misrouted, 3, "{tally:?}");
        assert_eq!(
            tally.missing, 3,
            "accepted but not in its own org: {tally:?}"
        );
        assert!(!tally.success(), "{tally:?}");
        assert!(tally.to_string().ends_with(" misrouted=3"), "{tally}");
    }
}
