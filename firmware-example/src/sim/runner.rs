//! Running simulated devices: one device per call, buffers on the heap, the host's RNG; and
//! the summary line the simulator (and the end-to-end tests) print at the end.

use std::fmt;

use ddlink_core::net::tls::{ServerTrust, TLS_READ_BUFFER, TrustAnchor};
use ddlink_core::net::{NetBuffers, Security};
use ddlink_core::provision::DeviceSecret;
use ddlink_core::site::SandboxPolicy;
use embedded_nal_async::{Dns, TcpConnect};
use rand_core::{OsRng, RngCore as _};

use crate::clock::EmbassyTicker;
use crate::device::{Device, DeviceConfig, DeviceReport};
use crate::sensors::TemperatureWalk;

/// TLS write buffer for simulated devices (requests are small).
const TLS_WRITE_BUFFER: usize = 4096;

/// What one simulated device is told. `Debug` is written by hand so the secret never prints.
#[derive(Clone)]
pub struct SimDevice {
    /// Gateway URL, `http://host:port`.
    pub gateway_url: String,
    /// Fleet name.
    pub fleet: String,
    /// Device id.
    pub device_id: String,
    /// Factory secret, 64 hex digits.
    pub device_secret_hex: String,
    /// DER of the CAs the device trusts for the intake (a chain ending at any of them is
    /// accepted, e.g. old and new root during a rotation); empty = plain HTTP (sandbox only).
    pub trust_anchors: Vec<Vec<u8>>,
    /// Sampling period in milliseconds.
    pub interval_ms: u64,
    /// How often collected samples are flushed, in milliseconds.
    pub flush_interval_ms: u64,
    /// How long to sample, in milliseconds.
    pub duration_ms: u64,
    /// How long to keep sending after sampling stops, in milliseconds.
    pub drain_ms: u64,
    /// How often to re-provision to pick up a new key version, in milliseconds.
    pub reprovision_every_ms: u64,
}

impl core::fmt::Debug for SimDevice {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SimDevice")
            .field("gateway_url", &self.gateway_url)
            .field("fleet", &self.fleet)
            .field("device_id", &self.device_id)
            .field("device_secret_hex", &"<redacted>")
            .field(
                "trust_anchors",
                &self.trust_anchors.iter().map(Vec::len).collect::<Vec<_>>(),
            )
            .field("interval_ms", &self.interval_ms)
            .field("flush_interval_ms", &self.flush_interval_ms)
            .field("duration_ms", &self.duration_ms)
            .field("drain_ms", &self.drain_ms)
            .field("reprovision_every_ms", &self.reprovision_every_ms)
            .finish()
    }
}

/// Why a simulated device could not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimError {
    /// The device secret is not 64 hex digits.
    InvalidSecret,
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidSecret => f.write_str("device secret must be 64 hex digits"),
        }
    }
}

impl std::error::Error for SimError {}

/// Runs one device over `tcp` + `dns` until its duration and drain are over.
pub async fn run_device<T: TcpConnect, D: Dns>(
    tcp: &T,
    dns: &D,
    params: &SimDevice,
) -> Result<DeviceReport, SimError> {
    let secret =
        DeviceSecret::from_hex(&params.device_secret_hex).map_err(|_| SimError::InvalidSecret)?;
    let anchors: Vec<TrustAnchor<'_>> = params
        .trust_anchors
        .iter()
        .map(|der| TrustAnchor::from_der(der))
        .collect();
    let security = if anchors.is_empty() {
        Security::PlainHttpSandboxOnly
    } else {
        Security::Tls(ServerTrust::new(&anchors))
    };
    let config = DeviceConfig {
        gateway_url: &params.gateway_url,
        fleet: &params.fleet,
        device_id: &params.device_id,
        secret,
        security,
        // A simulator talks to the sandbox world; the core still confines a sandbox site to
        // `*.localhost`.
        sandbox: SandboxPolicy::Allow,
        interval_ms: params.interval_ms,
        reprovision_every_ms: params.reprovision_every_ms,
    };
    let (mut tls_read, mut tls_write) = if !anchors.is_empty() {
        (vec![0u8; TLS_READ_BUFFER], vec![0u8; TLS_WRITE_BUFFER])
    } else {
        (Vec::new(), Vec::new())
    };
    let mut head = vec![0u8; 512];
    let mut response = vec![0u8; 2048];
    let buffers = NetBuffers {
        tls_read: &mut tls_read,
        tls_write: &mut tls_write,
        head: &mut head,
        response: &mut response,
    };
    let mut device = Box::new(
        Device::new(
            config,
            buffers,
            EmbassyTicker,
            OsRng,
            TemperatureWalk::new(21.0, OsRng.next_u64()),
        )
        .with_flush_interval_ms(params.flush_interval_ms),
    );
    Ok(device
        .run(tcp, dns, params.duration_ms, params.drain_ms)
        .await)
}

/// Totals over a set of devices, printed as the simulator's final line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Devices run.
    pub devices: u32,
    /// Devices that provisioned at least once.
    pub provisioned: u32,
    /// Points sampled (each was meant to be sent).
    pub points_sent: u64,
    /// Points Datadog accepted.
    pub points_accepted: u64,
    /// Points dropped with a reason (queue overflow, refused by Datadog).
    pub points_dropped: u64,
    /// Points still queued when the run ended.
    pub points_in_flight: u64,
}

impl Summary {
    /// Adds one device's report.
    pub fn add(&mut self, report: &DeviceReport) {
        self.devices += 1;
        self.provisioned += u32::from(report.provisioned > 0);
        self.points_sent += report.points.sampled;
        self.points_accepted += report.points.accepted;
        self.points_dropped += report.points.dropped;
        self.points_in_flight += report.points.in_flight();
    }

    /// Points sampled but not accepted (dropped or still queued at the end).
    pub fn lost(&self) -> u64 {
        self.points_sent.saturating_sub(self.points_accepted)
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "summary: devices={} provisioned={} points_sent={} points_accepted={} lost={}",
            self.devices,
            self.provisioned,
            self.points_sent,
            self.points_accepted,
            self.lost()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::SimDevice;

    #[test]
    fn debug_output_never_contains_the_device_secret() {
        let secret = "ab".repeat(32);
        let device = SimDevice {
            gateway_url: "http://gateway.localhost:1".into(),
            fleet: "demo".into(),
            device_id: "dev-1".into(),
            device_secret_hex: secret.clone(),
            trust_anchors: Vec::new(),
            interval_ms: 1000,
            flush_interval_ms: 1000,
            duration_ms: 1000,
            drain_ms: 1000,
            reprovision_every_ms: 1000,
        };
        let printed = format!("{device:?}");
        assert!(!printed.contains(&secret), "secret leaked: {printed}");
        assert!(printed.contains("dev-1"), "device id missing: {printed}");
    }
}
