//! The sandbox world in one process: the Datadog emulator and a gateway pointed at it
//! (`ddlink_sandbox`) with one or more tenants, each with its own emulated org and its
//! auto-approving fleet (`demo`, `demo-2`, …), consent given headlessly, an HTTPS front for the
//! intake ([`front`]), and N simulated devices: device `i` belongs to tenant `i % tenants` and its
//! factory secret is derived from that tenant's fleet key. The devices run on the calling thread (embassy-net stacks are not
//! `Send`); the servers run on a tokio runtime owned by the [`World`].
//!
//! This is what `ddlink-firmware-example --sandbox` runs and what the end-to-end tests build on.

pub mod cli;
pub mod front;
pub mod portmap;
pub mod tally;

use core::future::{Future, poll_fn};
use core::pin::Pin;
use core::task::Poll;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use ddlink_core::provision::derive_device_secret;
use ddlink_emulator::EmulatorHandle;
use ddlink_sandbox::{DbOptions, SandboxHandle, SandboxOptions, SandboxTenant};
use secrecy::ExposeSecret as _;

use self::front::IntakeFront;
use self::portmap::PortMap;
use self::tally::{DeviceRun, Tally};
use super::netsim::{NetSimConfig, run_with_network};
use super::os::os_stack;
use super::qemu::run_board;
use super::runner::{SimDevice, run_device};
use crate::device::DEFAULT_FLUSH_INTERVAL_MS;

/// Which network the simulated devices use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceNetwork {
    /// embassy-net joined to an in-process router (one per device), with optional packet loss.
    InProcess { loss_per_mille: u16 },
    /// The host's sockets (lightweight: many devices).
    OsSockets,
    /// The board image under QEMU (one process per device), each behind its own router
    /// ([`super::qemu`]), with optional packet loss.
    QemuBoard { image: PathBuf, loss_per_mille: u16 },
}

/// What the devices trust for the intake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntakeTrust {
    /// HTTPS through the front (an RSA chain shaped like Datadog's), trusting the front's root
    /// plus an unrelated one, as during a root rotation (the normal case).
    FrontCa,
    /// HTTPS through the front, trusting an unrelated CA: every handshake must fail.
    UnrelatedCa,
    /// Plain HTTP straight to the emulator (sandbox only; lightest).
    PlainHttp,
}

/// How the world is built and how its devices behave.
#[derive(Debug, Clone)]
pub struct WorldConfig {
    pub devices: usize,
    /// Tenants of the gateway, each with its own org and fleet (at least 1); device `i` is
    /// tenant `i % tenants`'s.
    pub tenants: usize,
    /// Device ids are `<prefix><index>` (index zero-padded to 4 digits).
    pub device_prefix: String,
    pub interval_ms: u64,
    /// How often devices flush collected samples (in-process and OS-socket devices; a board image
    /// uses the firmware's default).
    pub flush_interval_ms: u64,
    /// How long devices sample.
    pub duration_ms: u64,
    /// How long devices keep sending after sampling, until their queue is empty.
    pub drain_ms: u64,
    pub reprovision_every_ms: u64,
    pub network: DeviceNetwork,
    pub trust: IntakeTrust,
    /// Device `i` starts after `i * start_spread_ms / devices` (so 1,000 devices do not all
    /// connect in the same millisecond).
    pub start_spread_ms: u64,
    /// The gateway's database; `None`: SQLite in the world's temporary state directory.
    pub database: Option<DbOptions>,
    /// The sandbox fleets' device lease in seconds; `None`: the gateway's default (one day).
    pub lease_secs: Option<u32>,
}

impl WorldConfig {
    /// `devices` devices on the in-process network over HTTPS, sampling every second for 10 s.
    pub fn new(devices: usize) -> Self {
        Self {
            devices,
            tenants: 1,
            device_prefix: "sim-".to_owned(),
            interval_ms: 1_000,
            flush_interval_ms: DEFAULT_FLUSH_INTERVAL_MS,
            duration_ms: 10_000,
            drain_ms: 30_000,
            reprovision_every_ms: 600_000,
            network: DeviceNetwork::InProcess { loss_per_mille: 0 },
            trust: IntakeTrust::FrontCa,
            start_spread_ms: 0,
            database: None,
            lease_secs: None,
        }
    }
}

/// A running sandbox world.
#[derive(Debug)]
pub struct World {
    config: WorldConfig,
    sandbox: SandboxHandle,
    front: Option<IntakeFront>,
    /// A root that signed nothing served: the only anchor with `UnrelatedCa`, the second
    /// one with `FrontCa`.
    unrelated_ca: Option<Vec<u8>>,
    _state_dir: tempfile::TempDir,
    // Last, so the servers above are dropped while it still runs.
    runtime: tokio::runtime::Runtime,
}

impl World {
    /// Starts the emulator and the gateway, completes the consent flow, and opens the intake
    /// front (unless the devices use plain HTTP). Must not be called inside a tokio runtime.
    pub fn start(config: WorldConfig) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sandbox-world")
            .enable_all()
            .build()
            .context("building the tokio runtime")?;
        let state_dir = tempfile::Builder::new()
            .prefix("ddlink-sandbox-")
            .tempdir()
            .context("creating the sandbox state directory")?;
        let sandbox = runtime.block_on(ddlink_sandbox::start(SandboxOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            state_dir: state_dir.path().join("state"),
            tenants: config.tenants,
            database: config.database.clone(),
            fleet_lease_secs: config.lease_secs,
        }))?;
        runtime
            .block_on(sandbox.connect())
            .context("headless consent (Connect Accounts) failed")?;
        let front = match config.trust {
            IntakeTrust::PlainHttp => None,
            IntakeTrust::FrontCa | IntakeTrust::UnrelatedCa => {
                let emulator = sandbox.emulator();
                Some(runtime.block_on(IntakeFront::start(
                    emulator.local_addr().port(),
                    emulator.domain_name(),
                    &emulator.host_names(),
                ))?)
            }
        };
        let unrelated_ca = match config.trust {
            IntakeTrust::UnrelatedCa | IntakeTrust::FrontCa => Some(front::unrelated_ca_der()?),
            IntakeTrust::PlainHttp => None,
        };
        Ok(Self {
            config,
            sandbox,
            front,
            unrelated_ca,
            _state_dir: state_dir,
            runtime,
        })
    }

    pub fn config(&self) -> &WorldConfig {
        &self.config
    }

    pub fn sandbox(&self) -> &SandboxHandle {
        &self.sandbox
    }

    pub fn emulator(&self) -> &EmulatorHandle {
        self.sandbox().emulator()
    }

    /// The HTTPS front, unless the devices use plain HTTP.
    pub fn front(&self) -> Option<&IntakeFront> {
        self.front.as_ref()
    }

    /// Runs `future` on the world's runtime (from a thread outside any runtime).
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.runtime
    }

    /// The gateway's port on loopback.
    pub fn gateway_port(&self) -> u16 {
        self.sandbox().gateway_url().port().unwrap_or(80)
    }

    /// Device `index`'s id.
    pub fn device_id(&self, index: usize) -> String {
        format!("{}{index:04}", self.config.device_prefix)
    }

    /// The tenant device `index` belongs to (its fleet, and the org its points must land in).
    pub fn tenant_of(&self, index: usize) -> &SandboxTenant {
        let tenants = self.sandbox().tenants();
        &tenants[index % tenants.len()]
    }

    /// What device `index` is flashed with: its id, the secret derived from its tenant's fleet
    /// key, the gateway's address and the trust anchor.
    pub fn device(&self, index: usize) -> anyhow::Result<SimDevice> {
        let tenant = self.tenant_of(index);
        let device_id = self.device_id(index);
        let fleet_key = hex_decode(tenant.fleet_key_hex.expose_secret())
            .context("the sandbox's fleet key is not hex")?;
        let secret = derive_device_secret(&fleet_key, &tenant.fleet, &device_id)
            .map_err(|e| anyhow::anyhow!("deriving the secret of {device_id}: {e:?}"))?;
        // With the front's root, devices also hold an unrelated root, as during a root
        // rotation: the chain must end at either and does end at the front's.
        let trust_anchors = match self.config.trust {
            IntakeTrust::PlainHttp => Vec::new(),
            IntakeTrust::FrontCa => self
                .front
                .iter()
                .map(|f| f.ca_der().to_vec())
                .chain(self.unrelated_ca.clone())
                .collect(),
            IntakeTrust::UnrelatedCa => self.unrelated_ca.iter().cloned().collect(),
        };
        Ok(SimDevice {
            // `*.localhost` resolves to loopback (OS sockets) or to the router (in-process).
            gateway_url: format!("http://gateway.localhost:{}", self.gateway_port()),
            fleet: tenant.fleet.clone(),
            device_id,
            device_secret_hex: hex_encode(secret.expose_secret()),
            trust_anchors,
            interval_ms: self.config.interval_ms,
            flush_interval_ms: self.config.flush_interval_ms,
            duration_ms: self.config.duration_ms,
            drain_ms: self.config.drain_ms,
            reprovision_every_ms: self.config.reprovision_every_ms,
        })
    }

    /// Runs every device to the end on the calling thread (drive it with any executor).
    pub async fn run_devices(&self) -> anyhow::Result<Vec<DeviceRun>> {
        let count = self.config.devices;
        let mut runs: Vec<Pin<Box<dyn Future<Output = anyhow::Result<DeviceRun>> + '_>>> =
            Vec::with_capacity(count);
        for index in 0..count {
            runs.push(Box::pin(self.run_device(index)));
        }
        join_all(runs).await.into_iter().collect()
    }

    async fn run_device(&self, index: usize) -> anyhow::Result<DeviceRun> {
        let delay_ms = (index as u64)
            .saturating_mul(self.config.start_spread_ms)
            .checked_div(self.config.devices as u64)
            .unwrap_or(0);
        embassy_time::Timer::after_millis(delay_ms).await;
        let params = self.device(index)?;
        let intake_port = self.emulator().local_addr().port();
        let front_port = self.front.as_ref().map(IntakeFront::port);
        let mut stack_peak = None;
        let mut wire_bytes = None;
        let report = match &self.config.network {
            DeviceNetwork::OsSockets => {
                let stack = os_stack();
                let tcp = PortMap {
                    inner: &stack,
                    from: intake_port,
                    to: front_port.unwrap_or(intake_port),
                };
                run_device(&tcp, &stack, &params).await
            }
            DeviceNetwork::QemuBoard {
                image,
                loss_per_mille,
            } => {
                // The board connects to the intake's own port; its router sends that to the front.
                let mut net = NetSimConfig::forwarding(&[self.gateway_port()]);
                net.port_redirects = vec![(intake_port, front_port.unwrap_or(intake_port))];
                net.loss_per_mille = *loss_per_mille;
                net.seed = index as u64 + 1;
                let (board, link) = run_board(image, &params, &net).await?;
                stack_peak = Some(board.stack_peak);
                wire_bytes = Some(link.tcp_payload_bytes);
                Ok(board.device)
            }
            DeviceNetwork::InProcess { loss_per_mille } => {
                let mut net = NetSimConfig::forwarding(&[
                    self.gateway_port(),
                    front_port.unwrap_or(intake_port),
                ]);
                net.loss_per_mille = *loss_per_mille;
                net.seed = index as u64 + 1;
                let (report, link) = run_with_network(&net, async |tcp, dns| {
                    let tcp = PortMap {
                        inner: tcp,
                        from: intake_port,
                        to: front_port.unwrap_or(intake_port),
                    };
                    run_device(&tcp, dns, &params).await
                })
                .await
                .map_err(|e| anyhow::anyhow!("in-process network: {e}"))?;
                wire_bytes = Some(link.tcp_payload_bytes);
                report
            }
        }
        .map_err(|e| anyhow::anyhow!("device {}: {e}", params.device_id))?;
        Ok(DeviceRun {
            device_id: params.device_id,
            org_id: self.tenant_of(index).org.id.clone(),
            report,
            stack_peak,
            wire_bytes,
        })
    }

    /// The accounting of `runs`, cross-checked against what the emulator received, with the
    /// TLS sessions the intake front completed.
    pub fn tally(&self, runs: &[DeviceRun]) -> Tally {
        let mut tally = Tally::new(runs, &self.emulator().received_series());
        tally.tls_sessions = self.front().map_or(0, |front| front.stats().forwarded);
        tally
    }

    /// Stops the gateway, the emulator and the front.
    pub fn shutdown(self) {
        let Self {
            sandbox,
            front,
            runtime,
            ..
        } = self;
        drop(front);
        runtime.block_on(sandbox.shutdown());
    }
}

/// Polls every future until all are done; outputs in input order.
async fn join_all<T>(mut futures: Vec<Pin<Box<dyn Future<Output = T> + '_>>>) -> Vec<T> {
    let mut outputs: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect()
}
