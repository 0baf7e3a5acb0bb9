//! The line a board prints on its console when its run ends, and the host's reader for it: the
//! device's [`DeviceReport`] and the stack high-water mark, as `key=value` pairs after
//! [`REPORT_PREFIX`]. This is how the simulator learns what a board under QEMU did.

use core::fmt;

use crate::device::DeviceReport;

/// Starts the report line.
pub const REPORT_PREFIX: &str = "ddlink-report:";

/// What a board reports at the end of its run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BoardReport {
    /// The application's report.
    pub device: DeviceReport,
    /// Deepest stack use seen, in bytes (painted stack high-water mark).
    pub stack_peak: u64,
}

type Getter = fn(&BoardReport) -> u64;
type Setter = fn(&mut BoardReport, u64);

/// Every numeric field, in print order: the report's counts and every uploader counter.
/// `key_version` (optional) is handled on its own; `last_retry` (a cause, not a count) is not
/// sent.
const FIELDS: &[(&str, Getter, Setter)] = &[
    (
        "provisioned",
        |r| r.device.provisioned.into(),
        |r, v| r.device.provisioned = saturate(v, u32::MAX),
    ),
    (
        "sampled",
        |r| r.device.points.sampled,
        |r, v| r.device.points.sampled = v,
    ),
    (
        "queued",
        |r| r.device.points.queued,
        |r, v| r.device.points.queued = v,
    ),
    (
        "accepted",
        |r| r.device.points.accepted,
        |r, v| r.device.points.accepted = v,
    ),
    (
        "dropped",
        |r| r.device.points.dropped,
        |r, v| r.device.points.dropped = v,
    ),
    (
        "boot_events",
        |r| r.device.boot_events.into(),
        |r, v| r.device.boot_events = saturate(v, u32::MAX),
    ),
    (
        "logs",
        |r| r.device.logs_submitted.into(),
        |r, v| r.device.logs_submitted = saturate(v, u32::MAX),
    ),
    (
        "heartbeats",
        |r| r.device.heartbeats.into(),
        |r, v| r.device.heartbeats = saturate(v, u32::MAX),
    ),
    (
        "deflate_saved_bytes",
        |r| r.device.deflate_saved_bytes,
        |r, v| r.device.deflate_saved_bytes = v,
    ),
    (
        "enqueued",
        |r| r.device.uploader.enqueued.into(),
        |r, v| r.device.uploader.enqueued = saturate(v, u32::MAX),
    ),
    (
        "requests_sent",
        |r| r.device.uploader.sent.into(),
        |r, v| r.device.uploader.sent = saturate(v, u32::MAX),
    ),
    (
        "requests_accepted",
        |r| r.device.uploader.accepted.into(),
        |r, v| r.device.uploader.accepted = saturate(v, u32::MAX),
    ),
    (
        "retried",
        |r| r.device.uploader.retried.into(),
        |r, v| r.device.uploader.retried = saturate(v, u32::MAX),
    ),
    (
        "network_errors",
        |r| r.device.uploader.network_errors.into(),
        |r, v| r.device.uploader.network_errors = saturate(v, u32::MAX),
    ),
    (
        "dropped_bad_request",
        |r| r.device.uploader.dropped_bad_request.into(),
        |r, v| r.device.uploader.dropped_bad_request = saturate(v, u32::MAX),
    ),
    (
        "dropped_too_large",
        |r| r.device.uploader.dropped_too_large.into(),
        |r, v| r.device.uploader.dropped_too_large = saturate(v, u32::MAX),
    ),
    (
        "dropped_client_error",
        |r| r.device.uploader.dropped_client_error.into(),
        |r, v| r.device.uploader.dropped_client_error = saturate(v, u32::MAX),
    ),
    (
        "dropped_unsendable",
        |r| r.device.uploader.dropped_unsendable.into(),
        |r, v| r.device.uploader.dropped_unsendable = saturate(v, u32::MAX),
    ),
    (
        "reprovision_requests",
        |r| r.device.uploader.reprovision_requests.into(),
        |r, v| r.device.uploader.reprovision_requests = saturate(v, u32::MAX),
    ),
    (
        "items_accepted",
        |r| r.device.uploader.items_accepted,
        |r, v| r.device.uploader.items_accepted = v,
    ),
    (
        "items_dropped",
        |r| r.device.uploader.items_dropped,
        |r, v| r.device.uploader.items_dropped = v,
    ),
    (
        "queue_overflows",
        |r| r.device.uploader.dropped_queue_overflow.into(),
        |r, v| r.device.uploader.dropped_queue_overflow = saturate(v, u32::MAX),
    ),
    (
        "queue_high_water",
        |r| r.device.uploader.queue_high_water.into(),
        |r, v| r.device.uploader.queue_high_water = saturate(v, u16::MAX),
    ),
    ("stack_peak", |r| r.stack_peak, |r, v| r.stack_peak = v),
];

/// A count too large for its field saturates (the line comes from another program).
fn saturate<T: TryFrom<u64>>(value: u64, max: T) -> T {
    T::try_from(value).unwrap_or(max)
}

impl fmt::Display for BoardReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REPORT_PREFIX)?;
        match self.device.key_version {
            Some(version) => write!(f, " key_version={version}")?,
            None => f.write_str(" key_version=none")?,
        }
        for (name, get, _) in FIELDS {
            write!(f, " {name}={}", get(self))?;
        }
        Ok(())
    }
}

impl BoardReport {
    /// Reads a report line (surrounding whitespace allowed). `None` unless every field is
    /// present and numeric, so a line cut short by a crash is never taken for a report.
    pub fn parse(line: &str) -> Option<Self> {
        let mut report = Self::default();
        let mut seen = 0usize;
        let mut key_version_seen = false;
        for pair in line.trim().strip_prefix(REPORT_PREFIX)?.split_whitespace() {
            let (key, value) = pair.split_once('=')?;
            if key == "key_version" {
                report.device.key_version = match value {
                    "none" => None,
                    number => Some(number.parse().ok()?),
                };
                key_version_seen = true;
            } else if let Some((_, _, set)) = FIELDS.iter().find(|(name, ..)| *name == key) {
                set(&mut report, value.parse().ok()?);
                seen += 1;
            }
        }
        (key_version_seen && seen == FIELDS.len()).then_some(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BoardReport {
        let mut report = BoardReport::default();
        report.device.provisioned = 1;
        report.device.key_version = Some(3);
        report.device.points.sampled = 30;
        report.device.points.queued = 30;
        report.device.points.accepted = 27;
        report.device.points.dropped = 3;
        report.device.uploader.queue_high_water = 4;
        report.device.uploader.sent = 40;
        report.stack_peak = 12_345;
        report
    }

    #[test]
    fn a_printed_report_reads_back_unchanged() {
        let line = sample().to_string();
        assert!(line.starts_with(REPORT_PREFIX), "{line}");
        assert!(line.contains(" stack_peak=12345"), "{line}");
        assert_eq!(BoardReport::parse(&format!("{line}\r\n")), Some(sample()));
        let mut no_key = sample();
        no_key.device.key_version = None;
        assert_eq!(BoardReport::parse(&no_key.to_string()), Some(no_key));
    }

    #[test]
    fn partial_or_garbled_lines_are_not_reports() {
        let line = sample().to_string();
        let cut = &line[..line.len() - " stack_peak=12345".len()];
        assert_eq!(BoardReport::parse(cut), None, "a field is missing");
        assert_eq!(BoardReport::parse(&line.replace("=27", "=x")), None);
        assert_eq!(BoardReport::parse(&line.replace(REPORT_PREFIX, "")), None);
        assert_eq!(BoardReport::parse("panicked at src/device.rs"), None);
    }
}
