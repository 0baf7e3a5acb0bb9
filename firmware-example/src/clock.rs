//! The device's notion of time: a monotonic millisecond tick and a way to sleep until a tick.
//! Wall time is derived from it with `ddlink_core::clock::WallClock` once provisioning has
//! delivered the gateway's sealed `server_time` (a device has no RTC).

/// Monotonic time source and timer.
#[allow(
    async_fn_in_trait,
    reason = "firmware runs on single-threaded executors; no caller needs a Send future"
)]
pub trait Ticker {
    /// Milliseconds since an arbitrary start; never goes backwards.
    fn now_ms(&self) -> u64;
    /// Waits until [`Ticker::now_ms`] reaches `deadline_ms` (returns at once if it has).
    async fn sleep_until_ms(&self, deadline_ms: u64);
}

/// [`Ticker`] over `embassy-time` (whatever time driver the board or simulator links).
#[derive(Debug, Clone, Copy, Default)]
pub struct EmbassyTicker;

impl Ticker for EmbassyTicker {
    fn now_ms(&self) -> u64 {
        embassy_time::Instant::now().as_millis()
    }

    async fn sleep_until_ms(&self, deadline_ms: u64) {
        embassy_time::Timer::at(embassy_time::Instant::from_millis(deadline_ms)).await;
    }
}
