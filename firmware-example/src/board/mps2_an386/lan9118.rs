//! `embassy-net` driver for the SMSC LAN9118 Ethernet controller (MPS2 base 0x4020_0000,
//! IRQ 13), written against the controller's register interface in 32-bit mode.
//!
//! Receive is interrupt-driven: the RX-status-FIFO-level interrupt wakes the network task, which
//! then drains whole frames from the FIFOs. Transmit copies a frame into the TX FIFO (command
//! words A and B, then the data) and never waits: the FIFO holds several frames, and
//! [`Lan9118::transmit`] only hands out a token when a full frame fits. Transmit status words
//! are discarded (nothing in the firmware acts on per-frame errors; TCP retransmits).
//!
//! The PHY is left to its power-on auto-negotiation and the link is reported up; a board whose
//! cable can be pulled should read the PHY's basic status register (MII register 1, bit 2)
//! through `MII_ACC`/`MII_DATA` and report it in [`Lan9118::link_state`].

use core::task::Context;

use embassy_net_driver::{Capabilities, HardwareAddress, LinkState};
use embassy_sync::waitqueue::AtomicWaker;

use crate::mmio::Block;

/// NVIC line of the controller.
pub const LAN9118_IRQ: i16 = 13;

const LAN: Block = Block::at(0x4020_0000);
// Register offsets.
const RX_DATA_FIFO: usize = 0x00;
const TX_DATA_FIFO: usize = 0x20;
const RX_STATUS_FIFO: usize = 0x40;
const TX_STATUS_FIFO: usize = 0x48;
const ID_REV: usize = 0x50;
const IRQ_CFG: usize = 0x54;
const INT_STS: usize = 0x58;
const INT_EN: usize = 0x5C;
const TX_CFG: usize = 0x70;
const HW_CFG: usize = 0x74;
const RX_FIFO_INF: usize = 0x7C;
const TX_FIFO_INF: usize = 0x80;
const PMT_CTRL: usize = 0x84;
const MAC_CSR_CMD: usize = 0xA4;
const MAC_CSR_DATA: usize = 0xA8;
// MAC registers, reached through MAC_CSR_CMD/MAC_CSR_DATA.
const MAC_CR: u32 = 1;
const MAC_ADDRH: u32 = 2;
const MAC_ADDRL: u32 = 3;
// Bits.
const IRQ_CFG_ENABLE: u32 = 1 << 8;
const IRQ_CFG_ACTIVE_HIGH: u32 = 1 << 4;
const IRQ_CFG_PUSH_PULL: u32 = 1 << 0;
const INT_RX_STATUS_LEVEL: u32 = 1 << 3;
const HW_CFG_SOFT_RESET: u32 = 1 << 0;
const PMT_CTRL_READY: u32 = 1 << 0;
const TX_CFG_TX_ON: u32 = 1 << 1;
const MAC_CSR_BUSY: u32 = 1 << 31;
const MAC_CR_RX_ENABLE: u32 = 1 << 2;
const MAC_CR_TX_ENABLE: u32 = 1 << 3;
const TX_CMD_A_FIRST: u32 = 1 << 13;
const TX_CMD_A_LAST: u32 = 1 << 12;
const RX_STATUS_ERROR: u32 = 1 << 15;
/// The chip ids this driver knows (LAN9118 as emulated, and the 9220 family on the real board).
const KNOWN_IDS: [u32; 2] = [0x0118, 0x9220];

/// Largest Ethernet frame without FCS.
const MAX_FRAME: usize = 1514;
/// Bytes of TX FIFO one frame needs: command words plus the frame, word-rounded.
const TX_FRAME_SPACE: u32 = 8 + 1516;
/// Polls of a self-clearing bit before giving up.
const SPIN_LIMIT: u32 = 100_000;

static RX_WAKER: AtomicWaker = AtomicWaker::new();

/// Why the controller could not be brought up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lan9118Error {
    /// ID_REV names another chip (or nothing answers at the base address).
    UnknownChip(u32),
    /// Reset, power-up or a MAC register access did not complete.
    Timeout(&'static str),
}

impl core::fmt::Display for Lan9118Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::UnknownChip(id) => write!(f, "not a LAN9118 (ID_REV {id:#010x})"),
            Self::Timeout(what) => write!(f, "LAN9118 {what} did not complete"),
        }
    }
}

/// One frame buffer per direction.
pub struct Frames {
    rx: [u8; MAX_FRAME + 4],
    tx: [u8; MAX_FRAME],
}

impl Frames {
    /// Zeroed buffers (`const`, so they can live in a static without touching the stack).
    pub const fn new() -> Self {
        Self {
            rx: [0; MAX_FRAME + 4],
            tx: [0; MAX_FRAME],
        }
    }
}

/// The controller, initialised.
pub struct Lan9118 {
    mac: [u8; 6],
    frames: &'static mut Frames,
}

impl Lan9118 {
    /// Resets the controller, sets the MAC address, enables receive and transmit and its
    /// receive interrupt.
    pub fn new(mac: [u8; 6], frames: &'static mut Frames) -> Result<Self, Lan9118Error> {
        let id = LAN.read(ID_REV) >> 16;
        if !KNOWN_IDS.contains(&id) {
            return Err(Lan9118Error::UnknownChip(LAN.read(ID_REV)));
        }
        LAN.write(HW_CFG, HW_CFG_SOFT_RESET);
        spin_until("soft reset", || LAN.read(HW_CFG) & HW_CFG_SOFT_RESET == 0)?;
        spin_until("power-up", || LAN.read(PMT_CTRL) & PMT_CTRL_READY != 0)?;
        write_mac(
            MAC_ADDRL,
            u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]]),
        )?;
        write_mac(MAC_ADDRH, u32::from_le_bytes([mac[4], mac[5], 0, 0]))?;
        // Own address and broadcast only (reset leaves promiscuous mode on).
        write_mac(MAC_CR, MAC_CR_TX_ENABLE | MAC_CR_RX_ENABLE)?;
        LAN.write(TX_CFG, TX_CFG_TX_ON);
        // Interrupt on every received frame (RX status FIFO level 0 is the reset value).
        LAN.write(INT_EN, 0);
        LAN.write(INT_STS, u32::MAX);
        LAN.write(
            IRQ_CFG,
            IRQ_CFG_ENABLE | IRQ_CFG_ACTIVE_HIGH | IRQ_CFG_PUSH_PULL,
        );
        LAN.write(INT_EN, INT_RX_STATUS_LEVEL);
        crate::nvic::enable(LAN9118_IRQ);
        Ok(Self { mac, frames })
    }

    /// Reads the next good frame into the receive buffer; returns its length without the FCS.
    fn read_frame(&mut self) -> Option<usize> {
        while rx_frames_waiting() > 0 {
            let status = LAN.read(RX_STATUS_FIFO);
            let len_with_fcs = ((status >> 16) & 0x3FFF) as usize;
            let words = len_with_fcs.div_ceil(4);
            let fits = len_with_fcs <= self.frames.rx.len();
            for i in 0..words {
                let word = LAN.read(RX_DATA_FIFO).to_le_bytes();
                if fits && let Some(dst) = self.frames.rx.get_mut(i * 4..) {
                    let n = dst.len().min(4);
                    dst[..n].copy_from_slice(&word[..n]);
                }
            }
            if fits && status & RX_STATUS_ERROR == 0 && len_with_fcs > 4 {
                return Some(len_with_fcs - 4);
            }
        }
        None
    }
}

/// The controller's interrupt: acknowledge and wake the network task.
pub fn on_interrupt() {
    LAN.write(INT_STS, INT_RX_STATUS_LEVEL);
    RX_WAKER.wake();
}

fn rx_frames_waiting() -> u32 {
    (LAN.read(RX_FIFO_INF) >> 16) & 0xFF
}

fn spin_until(what: &'static str, mut done: impl FnMut() -> bool) -> Result<(), Lan9118Error> {
    for _ in 0..SPIN_LIMIT {
        if done() {
            return Ok(());
        }
    }
    Err(Lan9118Error::Timeout(what))
}

fn write_mac(register: u32, value: u32) -> Result<(), Lan9118Error> {
    spin_until("MAC access", || LAN.read(MAC_CSR_CMD) & MAC_CSR_BUSY == 0)?;
    LAN.write(MAC_CSR_DATA, value);
    LAN.write(MAC_CSR_CMD, MAC_CSR_BUSY | register);
    spin_until("MAC access", || LAN.read(MAC_CSR_CMD) & MAC_CSR_BUSY == 0)
}

/// Pushes one frame into the TX FIFO; the controller sends it once the last word is in.
fn send_frame(frame: &[u8]) {
    // Drop transmit status words so the status FIFO never fills.
    let done = (LAN.read(TX_FIFO_INF) >> 16) & 0xFF;
    for _ in 0..done {
        let _ = LAN.read(TX_STATUS_FIFO);
    }
    // `frame` is at most MAX_FRAME bytes: the length fits the 11-bit fields.
    let len = frame.len() as u32;
    LAN.write(TX_DATA_FIFO, TX_CMD_A_FIRST | TX_CMD_A_LAST | len);
    LAN.write(TX_DATA_FIFO, len);
    for chunk in frame.chunks(4) {
        let mut word = [0u8; 4];
        word[..chunk.len()].copy_from_slice(chunk);
        LAN.write(TX_DATA_FIFO, u32::from_le_bytes(word));
    }
}

fn tx_space_free() -> bool {
    LAN.read(TX_FIFO_INF) & 0xFFFF >= TX_FRAME_SPACE
}

impl embassy_net_driver::Driver for Lan9118 {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, cx: &mut Context<'_>) -> Option<(RxToken<'_>, TxToken<'_>)> {
        // Register first: a frame arriving after the check below still wakes us.
        RX_WAKER.register(cx.waker());
        if !tx_space_free() {
            // The stack may answer a frame at once: leave it in the FIFO until there is room.
            cx.waker().wake_by_ref();
            return None;
        }
        let len = self.read_frame()?;
        Some((
            RxToken {
                frame: &mut self.frames.rx[..len],
            },
            TxToken {
                buffer: &mut self.frames.tx,
            },
        ))
    }

    fn transmit(&mut self, cx: &mut Context<'_>) -> Option<TxToken<'_>> {
        if tx_space_free() {
            Some(TxToken {
                buffer: &mut self.frames.tx,
            })
        } else {
            // The FIFO drains at line rate without telling us; ask to be polled again.
            cx.waker().wake_by_ref();
            None
        }
    }

    fn link_state(&mut self, _cx: &mut Context<'_>) -> LinkState {
        LinkState::Up
    }

    fn capabilities(&self) -> Capabilities {
        let mut capabilities = Capabilities::default();
        capabilities.max_transmission_unit = MAX_FRAME;
        capabilities
    }

    fn hardware_address(&self) -> HardwareAddress {
        HardwareAddress::Ethernet(self.mac)
    }
}

/// A received frame.
pub struct RxToken<'a> {
    frame: &'a mut [u8],
}

impl embassy_net_driver::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, f: F) -> R {
        f(self.frame)
    }
}

/// Room for one frame to send.
pub struct TxToken<'a> {
    buffer: &'a mut [u8; MAX_FRAME],
}

impl embassy_net_driver::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let frame = &mut self.buffer[..len.min(MAX_FRAME)];
        let result = f(frame);
        send_frame(frame);
        result
    }
}
