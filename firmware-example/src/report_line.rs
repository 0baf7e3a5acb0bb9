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

/// `"name" => field.path: type` for each numeric field: a getter widening to `u64` and a setter
/// that saturates (the line comes from another program).
macro_rules! numeric_fields {
    ($($name:literal => $($field:ident).+ : $ty:ty,)*) => {
        &[$((
            $name,
            |r: &BoardReport| u64::from(r.$($field).+),
            |r: &mut BoardReport, v: u64| r.$($field).+ = <$ty>::try_from(v).unwrap_or(<$ty>::MAX),
        ),)*]
    };
}

/// Every numeric field, in print order: the report's counts and every uploader counter.
/// `key_version` (optional) is handled on its own; `last_retry` (a cause, not a count) is not
/// sent.
const FIELDS: &[(&str, Getter, Setter)] = numeric_fields! {
    "provisioned" => device.provisioned: u32,
    "sampled" => device.points.sampled: u64,
    "batched" => device.points.batched: u64,
    "queued" => device.points.queued: u64,
    "accepted" => device.points.accepted: u64,
    "dropped" => device.points.dropped: u64,
    "boot_events" => device.boot_events: u32,
    "logs" => device.logs_submitted: u32,
    "heartbeats" => device.heartbeats: u32,
    "deflate_saved_bytes" => device.deflate_saved_bytes: u64,
    "enqueued" => device.uploader.enqueued: u32,
    "requests_sent" => device.uploader.sent: u32,
    "connections_opened" => device.uploader.connections_opened: u32,
    "stale_retries" => device.uploader.stale_retries: u32,
    "requests_accepted" => device.uploader.accepted: u32,
    "retried" => device.uploader.retried: u32,
    "network_errors" => device.uploader.network_errors: u32,
    "dropped_bad_request" => device.uploader.dropped_bad_request: u32,
    "dropped_too_large" => device.uploader.dropped_too_large: u32,
    "dropped_client_error" => device.uploader.dropped_client_error: u32,
    "dropped_unsendable" => device.uploader.dropped_unsendable: u32,
    "reprovision_requests" => device.uploader.reprovision_requests: u32,
    "items_accepted" => device.uploader.items_accepted: u64,
    "items_dropped" => device.uploader.items_dropped: u64,
    "queue_overflows" => device.uploader.dropped_queue_overflow: u32,
    "queue_high_water" => device.uploader.queue_high_water: u16,
    "stack_peak" => stack_peak: u64,
};

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
