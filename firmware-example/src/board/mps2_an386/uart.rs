//! Console output on the CMSDK APB UART0 (transmit only, polled).

use crate::mmio::Block;

const UART0: Block = Block::at(0x4000_4000);
const DATA: usize = 0x00;
const STATE: usize = 0x04;
const CTRL: usize = 0x08;
const BAUDDIV: usize = 0x10;
const STATE_TX_FULL: u32 = 1 << 0;
const CTRL_TX_ENABLE: u32 = 1 << 0;
/// 25 MHz / 217 ≈ 115200 baud on hardware; the emulator only needs a divider of at least 16.
const BAUD_DIVIDER: u32 = 217;

/// Enables the transmitter (until then a write never leaves the FIFO).
pub fn init() {
    UART0.write(BAUDDIV, BAUD_DIVIDER);
    UART0.write(CTRL, CTRL_TX_ENABLE);
}

/// `core::fmt::Write` to UART0.
#[derive(Debug, Clone, Copy)]
pub struct Console;

impl core::fmt::Write for Console {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        for byte in text.bytes() {
            if byte == b'\n' {
                put(b'\r');
            }
            put(byte);
        }
        Ok(())
    }
}

fn put(byte: u8) {
    while UART0.read(STATE) & STATE_TX_FULL != 0 {}
    UART0.write(DATA, u32::from(byte));
}
