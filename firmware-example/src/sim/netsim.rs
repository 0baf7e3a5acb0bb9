//! In-process network: the device runs on a real embassy-net (smoltcp) stack, joined through
//! `embassy-net-driver-channel` to a second embassy-net stack playing the router. The router
//! answers DNS for the sandbox suffix with its own address and forwards the TCP ports it is told
//! about to `127.0.0.1:PORT` on the host. No TAP device, no root, no real network: CI exercises
//! embassy-net and smoltcp exactly as a board would, with optional deterministic packet loss.
//!
//! Everything runs on the calling thread (embassy-net stacks are not `Send`), so
//! [`run_with_network`] is a plain future: drive it with any executor, including embassy's.

use core::cell::Cell;
use core::convert::Infallible;
use core::future::{Future, poll_fn};
use core::pin::{Pin, pin};
use core::task::Poll;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};

use async_io::Async;
use embassy_futures::select::{Either, select, select3};
use embassy_net::dns::DnsSocket;
use embassy_net::driver::HardwareAddress;
use embassy_net::tcp::TcpSocket;
use embassy_net::tcp::client::{TcpClient, TcpClientState};
use embassy_net::udp::{PacketMetadata, UdpSocket};
use embassy_net::{Config, Ipv4Cidr, Stack, StackResources, StaticConfigV4};
use embassy_net_driver_channel as channel;
use embassy_time::Duration;
use futures_lite::{AsyncReadExt, AsyncWriteExt};

use super::dns;

/// Largest IP packet on the simulated link.
const MTU: usize = 1500;
/// Packets buffered per direction on the link.
const LINK_QUEUE: usize = 8;
/// Concurrent TCP connections the device can open (the uploader needs one; provisioning one more).
pub const DEVICE_TCP_CONNECTIONS: usize = 2;
/// Per-connection TCP buffer size on the device (TX and RX each).
pub const DEVICE_TCP_BUFFER: usize = 4096;
/// Device sockets: the TCP pool plus the DNS socket.
const DEVICE_SOCKETS: usize = DEVICE_TCP_CONNECTIONS + 2;
/// Router sockets: the DNS responder plus every forwarding listener.
const ROUTER_SOCKETS: usize = 32;
const ROUTER_TCP_BUFFER: usize = 8192;
/// A forwarded connection idle this long is torn down, so a vanished peer cannot wedge a slot.
/// Longer than the firmware's keep-alive idle timeout: the device, not the router, decides when
/// a kept-alive connection ends.
const FORWARD_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// How soon an idle forwarded connection checks that the device still has it.
const FORWARD_KEEP_ALIVE: Duration = Duration::from_millis(500);

// Addresses on the simulated link only: both stacks are smoltcp in this process (or the QEMU
// board's NIC, bridged over a loopback UDP socket), so these packets never reach the kernel's
// interfaces; what leaves the process goes to 127.0.0.1.
/// The router's address on every simulated link (also the devices' DNS server).
pub const ROUTER_ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// The device's address on every simulated link (/24).
pub const DEVICE_ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);

/// The device's TCP client on the simulated network (`embedded_nal_async::TcpConnect`).
pub type SimTcpClient<'a> =
    TcpClient<'a, DEVICE_TCP_CONNECTIONS, DEVICE_TCP_BUFFER, DEVICE_TCP_BUFFER>;

/// How the simulated network behaves.
#[derive(Debug, Clone)]
pub struct NetSimConfig {
    /// Host ports the router forwards to `127.0.0.1` (a device connecting to any other port gets
    /// a reset, as from a firewall).
    pub forward_ports: Vec<u16>,
    /// `(router port, host port)`: connections to the router's port go to `127.0.0.1:host port`
    /// (for a device whose connections cannot be redirected on its side, e.g. a board image).
    pub port_redirects: Vec<(u16, u16)>,
    /// Names the router's DNS answers (`suffix` itself and everything under it).
    pub dns_suffix: String,
    /// Connections accepted at once per forwarded port. A connection the device drops right after
    /// reading its answer (no FIN; its delayed ACK is lost with the socket) holds a slot until the
    /// router's retransmission draws the device's reset, about a second; the default of 8 covers
    /// the firmware's boot burst (event, log line, series, check) twice over.
    pub accept_slots_per_port: usize,
    /// Probability, in parts per thousand, that a packet is lost on the link (each direction).
    pub loss_per_mille: u16,
    /// Seed for the loss pattern and the stacks' randomness: a run is reproducible.
    pub seed: u64,
}

impl NetSimConfig {
    /// A loss-free network forwarding `ports`, answering DNS for `*.localhost`.
    pub fn forwarding(ports: &[u16]) -> Self {
        Self {
            forward_ports: ports.to_vec(),
            port_redirects: Vec::new(),
            dns_suffix: "localhost".into(),
            accept_slots_per_port: 8,
            loss_per_mille: 0,
            seed: 1,
        }
    }
}

/// Why a simulated network could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetSimError {
    /// Forwarded ports x `accept_slots_per_port` exceed the router's socket budget.
    TooManyListeners,
    /// `accept_slots_per_port` is zero or `loss_per_mille` is above 1000.
    InvalidConfig,
}

impl core::fmt::Display for NetSimError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::TooManyListeners => write!(
                f,
                "forwarded ports x accept slots exceed the router's {} sockets",
                ROUTER_SOCKETS - 1
            ),
            Self::InvalidConfig => {
                write!(
                    f,
                    "accept slots must be >= 1 and loss at most 1000 per mille"
                )
            }
        }
    }
}

impl std::error::Error for NetSimError {}

/// What happened on the link, for tests to assert on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Packets handed from one stack to the other.
    pub delivered: u64,
    /// Packets dropped by the loss model.
    pub lost: u64,
    /// DNS queries the router answered.
    pub dns_answers: u64,
    /// TCP connections the router forwarded to the host.
    pub forwarded_connections: u64,
    /// Forwarding attempts whose host port refused the connection.
    pub refused_connections: u64,
    /// TCP payload bytes relayed both ways on forwarded connections (TLS records included;
    /// IP and TCP headers, DNS and retransmissions not).
    pub tcp_payload_bytes: u64,
}

/// Shared, single-threaded counters and the loss generator.
pub(super) struct Link {
    stats: Cell<LinkStats>,
    rng: Cell<u64>,
    loss_per_mille: u16,
}

impl Link {
    /// A link losing `loss_per_mille` of its packets, decided by a generator seeded with `seed`.
    pub(super) fn new(seed: u64, loss_per_mille: u16) -> Self {
        Self {
            stats: Cell::new(LinkStats::default()),
            rng: Cell::new(seed),
            loss_per_mille,
        }
    }

    /// The statistics so far.
    pub(super) fn stats(&self) -> LinkStats {
        self.stats.get()
    }

    fn update(&self, f: impl FnOnce(&mut LinkStats)) {
        let mut stats = self.stats.get();
        f(&mut stats);
        self.stats.set(stats);
    }

    /// splitmix64: tiny, seedable, good enough to decide packet fates.
    fn next_random(&self) -> u64 {
        let mut z = self.rng.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        self.rng.set(z);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(super) fn lose_next_packet(&self) -> bool {
        self.loss_per_mille > 0 && self.next_random() % 1000 < u64::from(self.loss_per_mille)
    }
}

/// Builds a simulated network for one device, runs `app` with the device's TCP client and DNS
/// resolver, and returns what `app` returned together with the link statistics. The network
/// (stacks, router, forwarding) lives exactly as long as `app` runs.
pub async fn run_with_network<T>(
    config: &NetSimConfig,
    app: impl AsyncFnOnce(&SimTcpClient<'_>, &DnsSocket<'_>) -> T,
) -> Result<(T, LinkStats), NetSimError> {
    check_router_config(config)?;
    let link = Link::new(config.seed, config.loss_per_mille);

    let mut device_channel = channel::State::<MTU, LINK_QUEUE, LINK_QUEUE>::new();
    let mut router_channel = channel::State::<MTU, LINK_QUEUE, LINK_QUEUE>::new();
    let (device_phy, device_driver) = channel::new(&mut device_channel, HardwareAddress::Ip);
    let (router_phy, router_driver) = channel::new(&mut router_channel, HardwareAddress::Ip);
    let (device_state, device_rx, device_tx) = device_phy.split();
    let (router_state, router_rx, router_tx) = router_phy.split();
    device_state.set_link_state(embassy_net::driver::LinkState::Up);
    router_state.set_link_state(embassy_net::driver::LinkState::Up);

    let mut device_resources = StackResources::<DEVICE_SOCKETS>::new();
    let mut router_resources = RouterResources::new();
    let (device_stack, mut device_runner) = embassy_net::new(
        device_driver,
        static_config(DEVICE_ADDRESS, Some(ROUTER_ADDRESS)),
        &mut device_resources,
        config.seed,
    );
    let (router_stack, mut router_runner) =
        router_stack(router_driver, &mut router_resources, config.seed);

    let tcp_state = TcpClientState::new();
    let tcp = TcpClient::new(device_stack, &tcp_state);
    let dns = DnsSocket::new(device_stack);

    let network = async {
        let _ = select3(
            select(device_runner.run(), router_runner.run()),
            select(
                wire(device_tx, router_rx, &link),
                wire(router_tx, device_rx, &link),
            ),
            serve_router(router_stack, config, &link),
        )
        .await;
        // Only reachable without forwarded ports and a dead runner; keep the app in charge.
        core::future::pending::<Infallible>().await
    };
    let application = async {
        device_stack.wait_config_up().await;
        app(&tcp, &dns).await
    };
    match select(application, network).await {
        Either::First(value) => Ok((value, link.stats())),
        Either::Second(never) => match never {},
    }
}

/// Socket storage of a router stack.
pub(super) type RouterResources = StackResources<ROUTER_SOCKETS>;

/// Refuses configurations the router cannot serve.
pub(super) fn check_router_config(config: &NetSimConfig) -> Result<(), NetSimError> {
    let listeners = (config.forward_ports.len() + config.port_redirects.len())
        .checked_mul(config.accept_slots_per_port)
        .ok_or(NetSimError::TooManyListeners)?;
    if config.accept_slots_per_port == 0 || config.loss_per_mille > 1000 {
        return Err(NetSimError::InvalidConfig);
    }
    if listeners >= ROUTER_SOCKETS {
        return Err(NetSimError::TooManyListeners);
    }
    Ok(())
}

/// The router's stack (at [`ROUTER_ADDRESS`]) on `driver`.
pub(super) fn router_stack<'d, D: embassy_net::driver::Driver>(
    driver: D,
    resources: &'d mut RouterResources,
    seed: u64,
) -> (Stack<'d>, embassy_net::Runner<'d, D>) {
    embassy_net::new(
        driver,
        static_config(ROUTER_ADDRESS, None),
        resources,
        seed.rotate_left(17),
    )
}

/// Everything the router serves: DNS for the sandbox suffix and the forwarded ports.
pub(super) async fn serve_router(stack: Stack<'_>, config: &NetSimConfig, link: &Link) {
    let mut forwarders: Vec<Pin<Box<dyn Future<Output = ()> + '_>>> = Vec::new();
    let routes = config
        .forward_ports
        .iter()
        .map(|&port| (port, port))
        .chain(config.port_redirects.iter().copied());
    for (listen, host) in routes {
        for _ in 0..config.accept_slots_per_port {
            forwarders.push(Box::pin(forward_port(stack, listen, host, link)));
        }
    }
    select(
        dns_responder(stack, &config.dns_suffix, link),
        run_all(forwarders),
    )
    .await;
}

fn static_config(address: Ipv4Addr, gateway: Option<Ipv4Addr>) -> Config {
    let mut dns_servers = heapless::Vec::new();
    if let Some(router) = gateway {
        // Capacity 3, one entry: cannot fail.
        let _ = dns_servers.push(router);
    }
    Config::ipv4_static(StaticConfigV4 {
        address: Ipv4Cidr::new(address, 24),
        gateway,
        dns_servers,
    })
}

/// Moves packets one way across the link, dropping some when loss is configured.
async fn wire(
    mut from: channel::TxRunner<'_, MTU>,
    mut to: channel::RxRunner<'_, MTU>,
    link: &Link,
) -> ! {
    loop {
        let packet = from.tx_buf().await;
        if link.lose_next_packet() {
            link.update(|s| s.lost += 1);
        } else {
            let len = packet.len();
            let slot = to.rx_buf().await;
            if let (Some(dst), Some(src)) = (slot.get_mut(..len), packet.get(..len)) {
                dst.copy_from_slice(src);
                to.rx_done(len);
                link.update(|s| s.delivered += 1);
            }
        }
        from.tx_done();
    }
}

async fn dns_responder(stack: Stack<'_>, suffix: &str, link: &Link) -> ! {
    let mut rx_meta = [PacketMetadata::EMPTY; 4];
    let mut tx_meta = [PacketMetadata::EMPTY; 4];
    let mut rx_buffer = [0u8; 1024];
    let mut tx_buffer = [0u8; 1024];
    let mut socket = UdpSocket::new(
        stack,
        &mut rx_meta,
        &mut rx_buffer,
        &mut tx_meta,
        &mut tx_buffer,
    );
    // A fresh stack always has port 53 free.
    let _ = socket.bind(53);
    let mut query = [0u8; 512];
    loop {
        let Ok((len, from)) = socket.recv_from(&mut query).await else {
            continue;
        };
        let Some(reply) = query
            .get(..len)
            .and_then(|q| dns::respond(q, suffix, ROUTER_ADDRESS))
        else {
            continue;
        };
        if socket.send_to(&reply, from).await.is_ok() {
            link.update(|s| s.dns_answers += 1);
        }
    }
}

/// One accept slot: accepts a device connection on `port`, pipes it to `127.0.0.1:host_port`,
/// repeats.
async fn forward_port(stack: Stack<'_>, port: u16, host_port: u16, link: &Link) {
    let mut rx_buffer = vec![0u8; ROUTER_TCP_BUFFER];
    let mut tx_buffer = vec![0u8; ROUTER_TCP_BUFFER];
    loop {
        let mut socket = TcpSocket::new(stack, &mut rx_buffer, &mut tx_buffer);
        socket.set_timeout(Some(FORWARD_IDLE_TIMEOUT));
        // Devices drop a connection without a FIN once they have their answer (embassy-net
        // removes the socket) while the host server keeps it alive: a probe draws the device
        // stack's RST, which frees this slot at once instead of after the idle timeout.
        socket.set_keep_alive(Some(FORWARD_KEEP_ALIVE));
        if socket.accept(port).await.is_err() {
            continue;
        }
        let host = SocketAddr::from((Ipv4Addr::LOCALHOST, host_port));
        match Async::<TcpStream>::connect(host).await {
            Ok(upstream) => {
                link.update(|s| s.forwarded_connections += 1);
                pipe(&mut socket, &upstream, link).await;
                socket.close();
                // Best effort: the peer may already be gone.
                let _ = socket.flush().await;
            }
            Err(_) => {
                link.update(|s| s.refused_connections += 1);
                socket.abort();
                let _ = socket.flush().await;
            }
        }
    }
}

/// Copies both ways until the host side finishes. A device-side end of stream (FIN) half-closes
/// the host socket and keeps relaying the host's answer; a device-side reset ends the relay at
/// once, since nobody is left to read the answer.
async fn pipe(socket: &mut TcpSocket<'_>, upstream: &Async<TcpStream>, link: &Link) {
    let (mut device_reader, mut device_writer) = socket.split();
    let to_host = async {
        let mut buf = [0u8; 2048];
        let mut writer = upstream;
        let device_gone = loop {
            match device_reader.read(&mut buf).await {
                Ok(0) => break false,
                Err(_) => break true,
                Ok(n) => {
                    let Some(chunk) = buf.get(..n) else {
                        break true;
                    };
                    if writer.write_all(chunk).await.is_err() {
                        break true;
                    }
                    link.update(|s| s.tcp_payload_bytes += n as u64);
                }
            }
        };
        let _ = upstream.get_ref().shutdown(std::net::Shutdown::Write);
        device_gone
    };
    let to_device = async {
        let mut buf = [0u8; 2048];
        let mut reader = upstream;
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let Some(chunk) = buf.get(..n) else { break };
                    if embedded_io_async::Write::write_all(&mut device_writer, chunk)
                        .await
                        .is_err()
                    {
                        break;
                    }
                    link.update(|s| s.tcp_payload_bytes += n as u64);
                }
            }
        }
        let _ = embedded_io_async::Write::flush(&mut device_writer).await;
    };
    let mut to_host = pin!(to_host);
    let mut to_device = pin!(to_device);
    if let Either::First(false) = select(to_host.as_mut(), to_device.as_mut()).await {
        to_device.await;
    }
}

/// Polls every future until all finish (forwarders never do).
async fn run_all(mut futures: Vec<Pin<Box<dyn Future<Output = ()> + '_>>>) {
    poll_fn(|cx| {
        futures.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if futures.is_empty() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
}
