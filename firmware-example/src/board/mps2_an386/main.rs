//! The example firmware on a Cortex-M4F board: Arm's MPS2 with the AN386 image, as QEMU
//! emulates it (`qemu-system-arm -M mps2-an386`). This directory is the whole board glue; to
//! port the firmware, copy it and replace the three drivers:
//!
//! - [`uart`]: console output (CMSDK APB UART0, polled);
//! - [`time_driver`]: the `embassy-time` driver (FPGAIO 25 MHz counter for the time, CMSDK timer0
//!   for alarms);
//! - [`lan9118`]: the `embassy-net` driver for the board's SMSC LAN9118 Ethernet controller.
//!
//! Everything else is the same `no_std` application the desktop simulator runs
//! ([`ddlink_firmware_example::device`]), on embassy-net (smoltcp) and embassy's executor.
//! Nothing is allocated. Buffers and the application's state live in statics (`.bss`), placed
//! there without passing through the stack (`ConstStaticCell`), so the linker's figures are the
//! static RAM budget and the painted stack (`cortex-m-rt`'s `paint-stack`) shows the rest. The
//! task future stays small on purpose: on stable Rust, spawning copies it through the stack.
//!
//! What makes a board a particular device (ids, secret, trust anchors, addresses) is the factory
//! data block ([`ddlink_firmware_example::factory`]) at [`FACTORY_BLOCK`]; QEMU's host puts it
//! there with `-device loader`. QEMU's board has no TRNG, so the host also passes an entropy
//! seed in that block; a real board seeds the CSPRNG from its TRNG instead.
//!
//! The run ends after the block's run plan: the board prints its report line
//! ([`ddlink_firmware_example::report_line`]) and leaves QEMU through semihosting.
#![no_std]
#![no_main]

mod lan9118;
mod mmio;
mod nvic;
mod time_driver;
mod uart;

use core::fmt::Write as _;
use core::sync::atomic::{AtomicBool, Ordering};

use cortex_m_rt::{ExceptionFrame, entry, exception};
use ddlink_core::net::tls::{ServerTrust, TLS_READ_BUFFER, TrustAnchor};
use ddlink_core::net::{NetBuffers, Security};
use ddlink_core::provision::DeviceSecret;
use ddlink_core::site::SandboxPolicy;
use ddlink_firmware_example::clock::EmbassyTicker;
use ddlink_firmware_example::device::{Device, DeviceConfig};
use ddlink_firmware_example::factory::{FactoryData, MAX_TRUST_ANCHORS, RunPlan};
use ddlink_firmware_example::report_line::BoardReport;
use ddlink_firmware_example::sensors::TemperatureWalk;
use embassy_executor::raw::Executor;
use embassy_net::dns::DnsSocket;
use embassy_net::tcp::client::{TcpClient, TcpClientState};
use embassy_net::{Config, Ipv4Address, Ipv4Cidr, Runner, Stack, StackResources, StaticConfigV4};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use static_cell::{ConstStaticCell, StaticCell};

use self::uart::Console;

/// Where the host leaves the factory data block: the FPGA block RAM, 16 KiB that the linker
/// script (`memory.x`) leaves alone.
const FACTORY_BLOCK: usize = 0x0100_0000;
const FACTORY_BLOCK_LEN: usize = 16 * 1024;

/// TCP connections at once: provisioning and uploads take turns on one.
const TCP_CONNECTIONS: usize = 1;
/// TCP receive window. Large enough for the intake's certificate chain to arrive in one round
/// trip (an RSA chain is about 6 KB; the TLS layer reassembles records, this only sets pace).
const TCP_RX_BUFFER: usize = 4096;
/// Outgoing TLS records wait here for their ACK; on a LAN a small buffer only costs a round trip
/// now and then.
const TCP_TX_BUFFER: usize = 1024;
/// TLS write buffer: one request head plus a body slot fits in two records.
const TLS_WRITE_BUFFER: usize = 2048;
/// The uploader's request head (about 300 bytes) and response head (status line and headers;
/// bodies are not kept) buffers.
const HTTP_HEAD_BUFFER: usize = 512;
const HTTP_RESPONSE_BUFFER: usize = 1024;
/// Sockets: the TCP connection and the DNS resolver's UDP socket.
const SOCKETS: usize = TCP_CONNECTIONS + 1;

type BoardTcpClient<'d> = TcpClient<'d, TCP_CONNECTIONS, TCP_RX_BUFFER, TCP_TX_BUFFER>;
// QEMU's board has no sensor: it samples the simulated walk (a real board: its driver).
type BoardDevice = Device<'static, EmbassyTicker, ChaCha20Rng, TemperatureWalk>;
type NetRunner = Runner<'static, lan9118::Lan9118>;

/// The intake's trust anchors, pointing into the factory data block.
static TRUST_ANCHORS: StaticCell<[TrustAnchor<'static>; MAX_TRUST_ANCHORS]> = StaticCell::new();
static TLS_READ: ConstStaticCell<[u8; TLS_READ_BUFFER]> =
    ConstStaticCell::new([0; TLS_READ_BUFFER]);
static TLS_WRITE: ConstStaticCell<[u8; TLS_WRITE_BUFFER]> =
    ConstStaticCell::new([0; TLS_WRITE_BUFFER]);
static HTTP_HEAD: ConstStaticCell<[u8; HTTP_HEAD_BUFFER]> =
    ConstStaticCell::new([0; HTTP_HEAD_BUFFER]);
static HTTP_RESPONSE: ConstStaticCell<[u8; HTTP_RESPONSE_BUFFER]> =
    ConstStaticCell::new([0; HTTP_RESPONSE_BUFFER]);
static TCP_STATE: ConstStaticCell<TcpClientState<TCP_CONNECTIONS, TCP_RX_BUFFER, TCP_TX_BUFFER>> =
    ConstStaticCell::new(TcpClientState::new());
static NET_RESOURCES: ConstStaticCell<StackResources<SOCKETS>> =
    ConstStaticCell::new(StackResources::new());
static NIC_FRAMES: ConstStaticCell<lan9118::Frames> = ConstStaticCell::new(lan9118::Frames::new());
static DEVICE: StaticCell<BoardDevice> = StaticCell::new();

/// Set by the executor's pender; the idle loop sleeps only while it is clear.
static WORK_PENDING: AtomicBool = AtomicBool::new(false);

#[entry]
fn main() -> ! {
    uart::init();
    let factory = match FactoryData::decode(factory_block()) {
        Ok(factory) => factory,
        Err(error) => fail(format_args!("cannot read the factory data block: {error}")),
    };
    let _ = writeln!(
        Console,
        "ddlink board mps2-an386: device {} fleet {} gateway {}",
        factory.device_id, factory.fleet, factory.gateway_url
    );
    time_driver::init();
    let Some(executor) = cortex_m::singleton!(: Executor = Executor::new(core::ptr::null_mut()))
    else {
        fail(format_args!("main ran twice"));
    };
    let plan = factory.run_plan;
    let (stack, runner, device) = set_up(factory);
    let spawner = executor.spawner();
    match (network(runner), firmware(stack, device, plan)) {
        (Ok(network), Ok(firmware)) => {
            spawner.spawn(network);
            spawner.spawn(firmware);
        }
        _ => fail(format_args!("the tasks are already running")),
    }
    loop {
        WORK_PENDING.store(false, Ordering::SeqCst);
        run_ready_tasks(executor);
        // WFI, not WFE: QEMU treats WFE as a mere yield and would spin a host core. Interrupts
        // are masked between the check and WFI, so a wake-up in between is not lost (a pending
        // interrupt ends WFI even while masked, and runs once they are unmasked).
        cortex_m::interrupt::free(|_| {
            if !WORK_PENDING.load(Ordering::SeqCst) {
                cortex_m::asm::wfi();
            }
        });
    }
}

#[allow(unsafe_code, reason = "the raw executor's poll is unsafe; see SAFETY")]
fn run_ready_tasks(executor: &'static Executor) {
    // SAFETY: `poll` must not be called re-entrantly or from two contexts; only this idle loop
    // calls it, never an interrupt handler or the pender.
    unsafe { executor.poll() };
}

/// The executor asks to be polled (a task was woken, from a task or an interrupt handler).
#[allow(unsafe_code, reason = "the executor links to this symbol by name")]
#[unsafe(export_name = "__pender")]
fn pender(_context: *mut ()) {
    WORK_PENDING.store(true, Ordering::SeqCst);
}

#[allow(
    unsafe_code,
    reason = "the block is memory outside the program's image; see SAFETY"
)]
fn factory_block() -> &'static [u8] {
    // SAFETY: FACTORY_BLOCK..+FACTORY_BLOCK_LEN is the board's block RAM: always mapped, never
    // part of the linker's memory regions (so no Rust object overlaps it), written only by the
    // host before the CPU starts and never by this program.
    unsafe { core::slice::from_raw_parts(FACTORY_BLOCK as *const u8, FACTORY_BLOCK_LEN) }
}

/// Brings up the controller, the network stack and the application from the factory data.
/// Not inlined, and not async: the application's state is built in this frame (about the size of
/// [`BoardDevice`]) before it moves into its static, and this frame is gone before the deep
/// calls of a TLS handshake start.
#[inline(never)]
fn set_up(factory: FactoryData<'static>) -> (Stack<'static>, NetRunner, &'static mut BoardDevice) {
    let Some(seed) = factory.entropy_seed else {
        fail(format_args!(
            "no entropy seed in the factory data (this board has no TRNG)"
        ));
    };
    let mut rng = ChaCha20Rng::from_seed(*seed);
    let network_seed = rng.next_u64();

    let nic = match lan9118::Lan9118::new(factory.mac, NIC_FRAMES.take()) {
        Ok(nic) => nic,
        Err(error) => fail(format_args!("Ethernet controller: {error}")),
    };
    let (address, prefix) = factory.address;
    let router = Ipv4Address::from(factory.router);
    let mut dns_servers = heapless::Vec::new();
    // Capacity 3, one entry: cannot fail.
    let _ = dns_servers.push(router);
    let ip_config = Config::ipv4_static(StaticConfigV4 {
        address: Ipv4Cidr::new(Ipv4Address::from(address), prefix),
        gateway: Some(router),
        dns_servers,
    });
    let (stack, runner) = embassy_net::new(nic, ip_config, NET_RESOURCES.take(), network_seed);

    let security = if factory.trust_anchors.is_empty() {
        Security::PlainHttpSandboxOnly
    } else {
        let anchors = TRUST_ANCHORS.init([TrustAnchor::from_der(&[]); MAX_TRUST_ANCHORS]);
        let ders = factory.trust_anchors.as_slice();
        for (anchor, der) in anchors.iter_mut().zip(ders) {
            *anchor = TrustAnchor::from_der(der);
        }
        Security::Tls(ServerTrust::new(&anchors[..ders.len()]))
    };
    let config = DeviceConfig {
        gateway_url: factory.gateway_url,
        fleet: factory.fleet,
        device_id: factory.device_id,
        secret: DeviceSecret::from_bytes(*factory.secret),
        security,
        sandbox: SandboxPolicy::Allow,
        interval_ms: factory.run_plan.interval_ms,
        reprovision_every_ms: factory.run_plan.reprovision_every_ms,
    };
    let buffers = NetBuffers {
        tls_read: TLS_READ.take(),
        tls_write: TLS_WRITE.take(),
        head: HTTP_HEAD.take(),
        response: HTTP_RESPONSE.take(),
    };
    let sensors = TemperatureWalk::new(21.0, rng.next_u64());
    let device = DEVICE.init_with(|| Device::new(config, buffers, EmbassyTicker, rng, sensors));
    (stack, runner, device)
}

/// The network stack: moves frames between the controller and the sockets, forever.
#[embassy_executor::task]
async fn network(mut runner: NetRunner) {
    runner.run().await
}

/// The application: runs its plan, prints its report, ends the run.
#[embassy_executor::task]
async fn firmware(stack: Stack<'static>, device: &'static mut BoardDevice, plan: RunPlan) {
    let tcp: BoardTcpClient<'_> = TcpClient::new(stack, TCP_STATE.take());
    let dns = DnsSocket::new(stack);
    stack.wait_config_up().await;
    print_layout(size_of_output(&|| device.run(&tcp, &dns, 0, 0)));
    // Awaited where it is made: a future kept in a local first is copied through the stack.
    let report = device
        .run(&tcp, &dns, plan.duration_ms, plan.drain_ms)
        .await;
    let report = BoardReport {
        device: report,
        stack_peak: stack_high_water(),
    };
    let _ = writeln!(Console, "{report}");
    exit(true);
}

/// The size of what `make` would return, without calling it.
fn size_of_output<F: FnOnce() -> T, T>(_make: &F) -> usize {
    core::mem::size_of::<T>()
}

/// Where the RAM goes, for the README's breakdown (sizes in bytes).
fn print_layout(application_future: usize) {
    use core::mem::size_of;
    let _ = writeln!(
        Console,
        "layout: tls_buffers={} http_buffers={} tcp_sockets={} net_stack={} nic_frames={} device={} upload_queue={} application_future={application_future}",
        TLS_READ_BUFFER + TLS_WRITE_BUFFER,
        HTTP_HEAD_BUFFER + HTTP_RESPONSE_BUFFER,
        size_of::<TcpClientState<TCP_CONNECTIONS, TCP_RX_BUFFER, TCP_TX_BUFFER>>(),
        size_of::<StackResources<SOCKETS>>(),
        size_of::<lan9118::Frames>(),
        size_of::<BoardDevice>(),
        ddlink_firmware_example::device::QUEUE_SLOTS * ddlink_firmware_example::device::SLOT_BYTES,
    );
}

/// Bytes of stack ever used: the painted region (`cortex-m-rt` `paint-stack`) is scanned from
/// its far end for the first word that is no longer the paint.
#[allow(unsafe_code, reason = "reads the linker's stack bounds; see SAFETY")]
fn stack_high_water() -> u64 {
    unsafe extern "C" {
        static _stack_start: u32;
        static _stack_end: u32;
    }
    let top = (&raw const _stack_start) as usize;
    let mut at = (&raw const _stack_end) as usize;
    while at < top {
        // SAFETY: `_stack_end..._stack_start` is the stack region (RAM, word-aligned per the
        // linker script's asserts); every word in it is readable, and words below the current
        // stack pointer are not in use by anyone.
        let word = unsafe { core::ptr::read_volatile(at as *const u32) };
        if word != cortex_m_rt::STACK_PAINT_VALUE {
            break;
        }
        at += 4;
    }
    (top - at) as u64
}

/// Ends the run: QEMU exits with status 0 (`ok`) or 1, through semihosting.
#[allow(unsafe_code, reason = "semihosting call; see SAFETY")]
fn exit(ok: bool) -> ! {
    // ARM semihosting SYS_EXIT (0x18) with ADP_Stopped_ApplicationExit or RunTimeErrorUnknown.
    const SYS_EXIT: u32 = 0x18;
    let reason: u32 = if ok { 0x2_0026 } else { 0x2_0023 };
    // SAFETY: `bkpt 0xab` is the semihosting trap; QEMU (with `-semihosting-config enable=on`)
    // handles it and never returns. On hardware without a debugger it would fault, which is
    // also the end of the run.
    unsafe {
        core::arch::asm!("bkpt 0xab", in("r0") SYS_EXIT, in("r1") reason, options(nostack));
    }
    loop {
        cortex_m::asm::wfi();
    }
}

fn fail(message: core::fmt::Arguments<'_>) -> ! {
    let _ = writeln!(Console, "error: {message}");
    exit(false)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let _ = writeln!(Console, "panic: {info}");
    exit(false)
}

#[allow(
    unsafe_code,
    reason = "cortex-m-rt's exception handlers are unsafe fns"
)]
#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    let _ = writeln!(Console, "hard fault at pc={:#010x}", frame.pc());
    exit(false)
}

/// Every device interrupt lands here (no PAC): dispatch by number.
#[allow(
    unsafe_code,
    reason = "cortex-m-rt's exception handlers are unsafe fns"
)]
#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    match irqn {
        time_driver::TIMER0_IRQ => time_driver::on_interrupt(),
        lan9118::LAN9118_IRQ => lan9118::on_interrupt(),
        _ => {}
    }
}
