//! The `embassy-time` driver: 1 MHz ticks from the FPGAIO 25 MHz free-running counter, alarms
//! on CMSDK timer0 (IRQ 8).
//!
//! The counter is 32 bits wide and wraps every 171.8 s; [`now`] extends it to 64 bits by noticing
//! each wrap, which needs a reading at least once per wrap period. The alarm is therefore never
//! set further than [`MAX_ALARM_TICKS`] ahead: its interrupt reads the time even when no timer is
//! due.

use core::cell::RefCell;
use core::task::Waker;

use cortex_m::interrupt::{CriticalSection, Mutex};
use embassy_time_driver::Driver;
use embassy_time_queue_utils::Queue;

use crate::mmio::Block;

/// NVIC line of timer0.
pub const TIMER0_IRQ: i16 = 8;

const FPGAIO: Block = Block::at(0x4002_8000);
const FPGAIO_COUNTER: usize = 0x18;
const TIMER0: Block = Block::at(0x4000_0000);
const TIMER_CTRL: usize = 0x0;
const TIMER_RELOAD: usize = 0x8;
const TIMER_INTCLEAR: usize = 0xC;
const TIMER_CTRL_ENABLE: u32 = 1 << 0;
const TIMER_CTRL_IRQ_ENABLE: u32 = 1 << 3;

/// Counter cycles per `embassy-time` tick (25 MHz / 1 MHz).
const CYCLES_PER_TICK: u64 = 25;
/// Furthest alarm: well inside one counter wrap (171.8 s).
const MAX_ALARM_TICKS: u64 = 60_000_000;

const _: () = assert!(embassy_time_driver::TICK_HZ == 1_000_000);

struct State {
    last_counter: u32,
    wraps: u32,
    queue: Queue,
}

struct Mps2TimeDriver {
    state: Mutex<RefCell<State>>,
}

embassy_time_driver::time_driver_impl!(static DRIVER: Mps2TimeDriver = Mps2TimeDriver {
    state: Mutex::new(RefCell::new(State { last_counter: 0, wraps: 0, queue: Queue::new() })),
});

/// Starts the alarm timer's interrupt (the counter runs from reset).
pub fn init() {
    TIMER0.write(TIMER_CTRL, 0);
    TIMER0.write(TIMER_INTCLEAR, 1);
    crate::nvic::enable(TIMER0_IRQ);
    cortex_m::interrupt::free(|cs| DRIVER.rearm(cs));
}

/// Timer0's interrupt: stop it, wake whatever is due, set the next alarm.
pub fn on_interrupt() {
    TIMER0.write(TIMER_CTRL, 0);
    TIMER0.write(TIMER_INTCLEAR, 1);
    cortex_m::interrupt::free(|cs| DRIVER.rearm(cs));
}

impl Mps2TimeDriver {
    fn now_in(&self, cs: &CriticalSection) -> u64 {
        let mut state = self.state.borrow(cs).borrow_mut();
        let counter = FPGAIO.read(FPGAIO_COUNTER);
        if counter < state.last_counter {
            state.wraps = state.wraps.wrapping_add(1);
        }
        state.last_counter = counter;
        ((u64::from(state.wraps) << 32) | u64::from(counter)) / CYCLES_PER_TICK
    }

    /// Wakes expired timers and programs the alarm for the next one (or for the wrap watch).
    fn rearm(&self, cs: &CriticalSection) {
        loop {
            let now = self.now_in(cs);
            let next = self
                .state
                .borrow(cs)
                .borrow_mut()
                .queue
                .next_expiration(now);
            if next > now {
                let ticks = (next - now).min(MAX_ALARM_TICKS);
                // At most 1.5e9 cycles: fits the 32-bit reload register.
                let cycles = u32::try_from(ticks * CYCLES_PER_TICK).unwrap_or(u32::MAX);
                TIMER0.write(TIMER_CTRL, 0);
                TIMER0.write(TIMER_INTCLEAR, 1);
                TIMER0.write(TIMER_RELOAD, cycles);
                TIMER0.write(TIMER_CTRL, TIMER_CTRL_ENABLE | TIMER_CTRL_IRQ_ENABLE);
                return;
            }
            // `next` passed while we looked: the queue wakes it on the next round.
        }
    }
}

impl Driver for Mps2TimeDriver {
    fn now(&self) -> u64 {
        cortex_m::interrupt::free(|cs| self.now_in(cs))
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        cortex_m::interrupt::free(|cs| {
            let changed = self
                .state
                .borrow(cs)
                .borrow_mut()
                .queue
                .schedule_wake(at, waker);
            if changed {
                self.rearm(cs);
            }
        });
    }
}
