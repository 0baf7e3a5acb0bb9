//! Board images under QEMU, joined to the simulated network: each board (`qemu-system-arm -M
//! mps2-an386`, one process per device) gets its own router, the same one [`super::netsim`] gives
//! an in-process device, but on an Ethernet link. QEMU's NIC sends and receives raw Ethernet
//! frames as UDP datagrams on 127.0.0.1 (`-netdev dgram`); the bridge here moves them to and from
//! the router's stack. No kernel interface, no address outside loopback.
//!
//! The board learns who it is from a factory data block ([`crate::factory`]) the host writes
//! into the board's block RAM (`-device loader`), and tells how its run went on its console
//! (UART0 on QEMU's stdout): the report line ([`crate::report_line`]) with its stack high-water
//! mark. Flash and static RAM come from the image's ELF sections ([`Footprint`]).
//!
//! The image is built beforehand with [`IMAGE_BUILD_COMMAND`] (a `cargo run` of the simulator
//! cannot build a `thumbv7em` binary of its own package while cargo holds the build lock, and a
//! run should not hide a cross build); `--board-image` points elsewhere.

use core::cell::Cell;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context as _, bail};
use async_io::Async;
use embassy_futures::select::{Either, select, select3};
use embassy_net::driver::{HardwareAddress, LinkState};
use embassy_net_driver_channel as channel;
use futures_lite::{AsyncBufReadExt, StreamExt, io::BufReader};
use object::{Object, ObjectSection};
use rand_core::RngCore;

use super::netsim::{
    DEVICE_ADDRESS, Link, LinkStats, NetSimConfig, ROUTER_ADDRESS, RouterResources,
    check_router_config, router_stack, serve_router,
};
use super::runner::SimDevice;
use crate::factory::{FactoryData, RunPlan, TrustAnchorDers};
use crate::report_line::BoardReport;

/// The board's name on the command line (`--board`).
pub const BOARD_NAME: &str = "qemu-mps2-an386";
/// How the board image is built (from the workspace root).
pub const IMAGE_BUILD_COMMAND: &str = "cargo build -p ddlink-firmware-example --bin ddlink-board-mps2-an386 --no-default-features --features board-mps2-an386 --target thumbv7em-none-eabihf --profile firmware";
/// Where the board image reads its factory data block (the board's block RAM).
const FACTORY_BLOCK_ADDRESS: u32 = 0x0100_0000;
/// Size of that block RAM.
const FACTORY_BLOCK_CAPACITY: usize = 16 * 1024;
/// Largest Ethernet frame without FCS.
const ETHERNET_FRAME: usize = 1514;
/// Frames buffered per direction between the UDP socket and the router's stack.
const LINK_QUEUE: usize = 16;
/// Boot, provisioning and the final report on top of the run plan.
const RUN_SLACK_MS: u64 = 60_000;

/// Where [`IMAGE_BUILD_COMMAND`] puts the image (the workspace's default target directory).
pub fn default_image_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/thumbv7em-none-eabihf/firmware/ddlink-board-mps2-an386")
}

/// What an image occupies, from its ELF section headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    /// Bytes programmed into flash: vector table, code, read-only data, and the initial values
    /// of `.data`.
    pub flash: u64,
    /// Bytes of RAM reserved at link time: `.data`, `.bss` and `.uninit` (the application task's
    /// future, with every buffer in it, is in `.bss`).
    pub ram_static: u64,
}

impl Footprint {
    /// Reads the footprint of the ELF image `elf`.
    pub fn of_elf(elf: &[u8]) -> anyhow::Result<Self> {
        let file = object::File::parse(elf).context("the board image is not an ELF file")?;
        let size = |name: &str| file.section_by_name(name).map_or(0, |s| s.size());
        if file.section_by_name(".text").is_none() {
            bail!("the board image has no .text section");
        }
        let data = size(".data");
        Ok(Self {
            flash: size(".vector_table") + size(".text") + size(".rodata") + data,
            ram_static: data + size(".bss") + size(".uninit"),
        })
    }

    /// Reads the footprint of the image at `path`.
    pub fn of_image(path: &Path) -> anyhow::Result<Self> {
        let elf = std::fs::read(path).with_context(|| {
            format!(
                "cannot read the board image {} (build it first: {IMAGE_BUILD_COMMAND})",
                path.display()
            )
        })?;
        Self::of_elf(&elf)
    }
}

/// Runs one board image as device `params` behind its own router (configured by `net`) until
/// it prints its report and exits; returns the report and what the router saw. Every console
/// line is echoed as `board <id>: <line>`.
pub async fn run_board(
    image: &Path,
    params: &SimDevice,
    net: &NetSimConfig,
) -> anyhow::Result<(BoardReport, LinkStats)> {
    check_router_config(net).map_err(|e| anyhow::anyhow!("router: {e}"))?;
    let index_mac = net.seed.to_be_bytes();
    let device_mac = [0x02, 0xdd, 0x1c, index_mac[5], index_mac[6], index_mac[7]];
    let router_mac = [0x02, 0xdd, 0x1c, 0xff, 0x00, 0x01];

    let socket = Async::<UdpSocket>::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .context("binding the router's UDP port on 127.0.0.1")?;
    let router_port = socket.get_ref().local_addr()?.port();
    let factory_file = write_factory_block(params, device_mac)?;
    let mut qemu = Qemu::launch(image, factory_file.path(), router_port, device_mac)?;
    let console = qemu.console()?;

    let link = Link::new(net.seed, net.loss_per_mille);
    let mut channel_state = channel::State::<ETHERNET_FRAME, LINK_QUEUE, LINK_QUEUE>::new();
    let (runner, driver) = channel::new(&mut channel_state, HardwareAddress::Ethernet(router_mac));
    let (link_state, to_router, from_router) = runner.split();
    link_state.set_link_state(LinkState::Up);
    let mut resources = RouterResources::new();
    let (stack, mut stack_runner) = router_stack(driver, &mut resources, net.seed);
    let board_port = Cell::new(None);

    let router = select3(
        stack_runner.run(),
        select(
            frames_from_board(&socket, to_router, &board_port, &link),
            frames_to_board(&socket, from_router, &board_port, &link),
        ),
        serve_router(stack, net, &link),
    );
    let limit_ms = params
        .duration_ms
        .saturating_add(params.drain_ms)
        .saturating_add(RUN_SLACK_MS);
    let board = embassy_time::with_timeout(
        embassy_time::Duration::from_millis(limit_ms),
        read_console(console, &params.device_id),
    );
    let report = match select(board, router).await {
        Either::First(Ok(report)) => report,
        Either::First(Err(_)) => bail!(
            "board {} did not finish within {} s",
            params.device_id,
            limit_ms / 1_000
        ),
        Either::Second(_) => bail!("the router of board {} stopped", params.device_id),
    };
    let status = qemu.wait()?;
    match report {
        Some(report) if status.success() => Ok((report, link.stats())),
        Some(_) => bail!(
            "board {} reported, then QEMU exited with {status}",
            params.device_id
        ),
        None => bail!(
            "board {} ended without a report (QEMU exited with {status})",
            params.device_id
        ),
    }
}

/// Encodes device `params`' factory data block (with a fresh entropy seed) into a file for
/// QEMU's loader.
fn write_factory_block(
    params: &SimDevice,
    mac: [u8; 6],
) -> anyhow::Result<tempfile::NamedTempFile> {
    let secret = ddlink_core::provision::DeviceSecret::from_hex(&params.device_secret_hex)
        .map_err(|_| anyhow::anyhow!("device secret must be 64 hex digits"))?;
    let mut seed = [0u8; crate::factory::ENTROPY_SEED_LEN];
    rand_core::OsRng.fill_bytes(&mut seed);
    let anchor_ders: Vec<&[u8]> = params.trust_anchors.iter().map(Vec::as_slice).collect();
    let trust_anchors = TrustAnchorDers::new(&anchor_ders)
        .map_err(|e| anyhow::anyhow!("trust anchors for the factory block: {e}"))?;
    let factory = FactoryData {
        gateway_url: &params.gateway_url,
        fleet: &params.fleet,
        device_id: &params.device_id,
        secret: secret.expose_secret(),
        trust_anchors,
        mac,
        address: (DEVICE_ADDRESS.octets(), 24),
        router: ROUTER_ADDRESS.octets(),
        entropy_seed: Some(&seed),
        run_plan: RunPlan {
            interval_ms: params.interval_ms,
            duration_ms: params.duration_ms,
            drain_ms: params.drain_ms,
            reprovision_every_ms: params.reprovision_every_ms,
        },
    };
    let mut block = vec![0u8; FACTORY_BLOCK_CAPACITY];
    let len = factory
        .encode(&mut block)
        .map_err(|e| anyhow::anyhow!("factory data block: {e}"))?;
    let mut file = tempfile::Builder::new()
        .prefix("ddlink-factory-")
        .tempfile()
        .context("creating the factory data file")?;
    std::io::Write::write_all(&mut file, &block[..len]).context("writing the factory data")?;
    Ok(file)
}

/// One QEMU process; killed (and reaped) when dropped, so a failed run leaves none behind.
struct Qemu {
    child: Child,
}

impl Qemu {
    fn launch(
        image: &Path,
        factory_block: &Path,
        router_port: u16,
        mac: [u8; 6],
    ) -> anyhow::Result<Self> {
        if !image.is_file() {
            bail!(
                "no board image at {} (build it first: {IMAGE_BUILD_COMMAND})",
                image.display()
            );
        }
        let mac = mac
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":");
        let child = Command::new("qemu-system-arm")
            .args(["-M", "mps2-an386", "-m", "16M"])
            .args(["-display", "none", "-monitor", "none", "-serial", "stdio"])
            .args(["-semihosting-config", "enable=on,target=native"])
            .arg("-kernel")
            .arg(image)
            .arg("-device")
            .arg(format!(
                "loader,file={},addr={FACTORY_BLOCK_ADDRESS:#x},force-raw=on",
                factory_block.display()
            ))
            // QEMU picks its own port (0) and sends from it; the bridge answers there.
            .arg("-netdev")
            .arg(format!(
                "dgram,id=net0,local.type=inet,local.host=127.0.0.1,local.port=0,\
                 remote.type=inet,remote.host=127.0.0.1,remote.port={router_port}"
            ))
            .arg("-net")
            .arg(format!("nic,netdev=net0,macaddr={mac}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting qemu-system-arm (install Debian's qemu-system-arm)")?;
        Ok(Self { child })
    }

    fn console(&mut self) -> anyhow::Result<Async<std::process::ChildStdout>> {
        let stdout = self
            .child
            .stdout
            .take()
            .context("QEMU's console is not piped")?;
        Async::new(stdout).context("watching QEMU's console")
    }

    /// Waits for QEMU to exit (it does right after the report, through semihosting).
    fn wait(&mut self) -> anyhow::Result<std::process::ExitStatus> {
        self.child.wait().context("waiting for QEMU")
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Echoes the board's console and returns its report line once the console closes.
async fn read_console(
    console: Async<std::process::ChildStdout>,
    device_id: &str,
) -> Option<BoardReport> {
    let mut lines = BufReader::new(console).lines();
    let mut report = None;
    while let Some(Ok(line)) = lines.next().await {
        let line = line.trim_end();
        println!("board {device_id}: {line}");
        if let Some(parsed) = BoardReport::parse(line) {
            report = Some(parsed);
        }
    }
    report
}

/// Datagrams from QEMU become frames into the router; the sender's port is the board's.
async fn frames_from_board(
    socket: &Async<UdpSocket>,
    mut to_router: channel::RxRunner<'_, ETHERNET_FRAME>,
    board_port: &Cell<Option<SocketAddr>>,
    link: &Link,
) -> ! {
    loop {
        let slot = to_router.rx_buf().await;
        let Ok((len, from)) = socket.recv_from(slot).await else {
            continue;
        };
        // Only QEMU on this machine may speak on the board's link.
        if !from.ip().is_loopback() {
            continue;
        }
        board_port.set(Some(from));
        // Ethernet header at least; otherwise (or when the loss model says so) drop it.
        if len >= 14 && !link.lose_next_packet() {
            to_router.rx_done(len);
        }
    }
}

/// Frames from the router become datagrams to QEMU (once QEMU has spoken and so has a port),
/// except those the loss model drops.
async fn frames_to_board(
    socket: &Async<UdpSocket>,
    mut from_router: channel::TxRunner<'_, ETHERNET_FRAME>,
    board_port: &Cell<Option<SocketAddr>>,
    link: &Link,
) -> ! {
    loop {
        let frame = from_router.tx_buf().await;
        if let Some(board) = board_port.get()
            && !link.lose_next_packet()
        {
            // A send error is a lost frame; TCP recovers.
            let _ = socket.send_to(frame, board).await;
        }
        from_router.tx_done();
    }
}

#[cfg(test)]
mod tests {
    use super::Footprint;

    #[test]
    fn the_footprint_of_an_elf_counts_its_sections() {
        let exe = std::env::current_exe().expect("the test binary's path");
        let elf = std::fs::read(&exe).expect("reading the test binary");
        let footprint = Footprint::of_elf(&elf).expect("the test binary is ELF");
        // This test's own code is in there, and the image file holds at least the flash part.
        assert!(footprint.flash > 64 * 1024, "{footprint:?}");
        assert!(footprint.flash < elf.len() as u64, "{footprint:?}");
        assert!(footprint.ram_static > 0, "{footprint:?}");
    }

    #[test]
    fn a_file_that_is_not_elf_has_no_footprint() {
        let error = Footprint::of_elf(b"not an ELF image").expect_err("must be refused");
        assert!(error.to_string().contains("not an ELF"), "{error}");
    }
}
