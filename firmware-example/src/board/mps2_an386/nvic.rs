//! Enabling device interrupts in the NVIC by number (the board has no PAC).

use cortex_m::interrupt::InterruptNumber;
use cortex_m::peripheral::NVIC;

#[derive(Debug, Clone, Copy)]
struct Line(u16);

// SAFETY: `number` returns the value the line was built from, always a valid NVIC line of this
// board (one of the driver constants below 32).
#[allow(unsafe_code, reason = "InterruptNumber is an unsafe trait; see SAFETY")]
unsafe impl InterruptNumber for Line {
    fn number(self) -> u16 {
        self.0
    }
}

/// Clears a stale pending state and unmasks device interrupt `irq`.
#[allow(
    unsafe_code,
    reason = "unmasking can break critical sections; see SAFETY"
)]
pub fn enable(irq: i16) {
    let line = Line(irq.unsigned_abs());
    NVIC::unpend(line);
    // SAFETY: no code relies on these lines being masked for its critical sections: every
    // critical section in this program masks all interrupts (`cortex_m::interrupt::free`).
    unsafe { NVIC::unmask(line) };
}
