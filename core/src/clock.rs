//! Wall-clock time for a device without an RTC: a trusted time sample plus a monotonic tick.
//!
//! The caller owns the tick source (e.g. `embassy_time::Instant::now().as_millis()`) and passes
//! tick values in milliseconds; this module only does arithmetic, so it is deterministic in tests.
//!
//! A sample is a server time in whole seconds — the gateway's sealed `server_time` or a Datadog
//! response's `Date` — together with the ticks when the request was sent and when the answer
//! arrived. The server produced its time between those two moments and truncated it to the second,
//! so on arrival the true time lies in `[server, server + 1 s + round trip]`.
//!
//! Re-sync rules ([`WallClock::sync`]):
//! - the first sample sets the clock to the lower bound (a timestamp is never in the future);
//! - later samples move the estimate only if it falls outside that window, and then only to the
//!   nearest edge: forward to the lower bound when behind, back to the upper bound when ahead.
//!   So the clock never steps back further than the evidence demands, and a long round trip
//!   (a wide window) cannot drag a good estimate around.

use core::fmt;

/// Why the wall clock cannot answer, or refused a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ClockError {
    /// No time sample yet: provision (or get any Datadog response with a `Date`) first.
    NotSynced,
    /// A tick value is earlier than the tick of the last sync (the tick source went backwards).
    TickBeforeSync,
    /// A sample's receive tick is earlier than its send tick.
    InvalidSample,
}

impl ClockError {
    /// A short, fixed description.
    pub const fn as_str(self) -> &'static str {
        match self {
            ClockError::NotSynced => "clock not synced",
            ClockError::TickBeforeSync => "tick earlier than last sync",
            ClockError::InvalidSample => "sample received before it was sent",
        }
    }
}

impl fmt::Display for ClockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::error::Error for ClockError {}

/// What a sync did to the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Adjustment {
    /// First sample: the clock is now set.
    Initial,
    /// The estimate was consistent with the sample.
    Unchanged,
    /// The clock was behind and stepped forward by this many milliseconds.
    Forward(u64),
    /// The clock was ahead and stepped back by this many milliseconds.
    Backward(u64),
}

/// One trusted time observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TimeSample {
    /// Server time, Unix seconds (the `Date` header or the gateway's `server_time`).
    pub server_unix_s: u64,
    /// Tick (ms) when the request left; equal to `received_at_ms` if unknown.
    pub sent_at_ms: u64,
    /// Tick (ms) when the response arrived.
    pub received_at_ms: u64,
}

/// Unix time in milliseconds at one tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Anchor {
    unix_ms: u64,
    tick_ms: u64,
}

/// Wall time = last anchor + ticks since it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct WallClock {
    anchor: Option<Anchor>,
}

impl WallClock {
    /// An unsynced clock.
    pub const fn new() -> WallClock {
        WallClock { anchor: None }
    }

    /// Whether a sample has been taken.
    pub const fn is_synced(&self) -> bool {
        self.anchor.is_some()
    }

    /// Unix milliseconds at `tick_ms`.
    pub fn now_unix_ms(&self, tick_ms: u64) -> Result<u64, ClockError> {
        let anchor = self.anchor.ok_or(ClockError::NotSynced)?;
        let elapsed = tick_ms
            .checked_sub(anchor.tick_ms)
            .ok_or(ClockError::TickBeforeSync)?;
        Ok(anchor.unix_ms.saturating_add(elapsed))
    }

    /// Unix seconds at `tick_ms` (rounded down).
    pub fn now_unix_s(&self, tick_ms: u64) -> Result<u64, ClockError> {
        self.now_unix_ms(tick_ms).map(|ms| ms / 1_000)
    }

    /// Applies a sample (see the module docs for the rules) and re-anchors at its receive tick.
    pub fn sync(&mut self, sample: TimeSample) -> Result<Adjustment, ClockError> {
        let round_trip = sample
            .received_at_ms
            .checked_sub(sample.sent_at_ms)
            .ok_or(ClockError::InvalidSample)?;
        let earliest = sample.server_unix_s.saturating_mul(1_000);
        let latest = earliest.saturating_add(999).saturating_add(round_trip);
        let (unix_ms, adjustment) = match self.anchor {
            None => (earliest, Adjustment::Initial),
            Some(_) => {
                let estimate = self.now_unix_ms(sample.received_at_ms)?;
                if estimate < earliest {
                    (earliest, Adjustment::Forward(earliest - estimate))
                } else if estimate > latest {
                    (latest, Adjustment::Backward(estimate - latest))
                } else {
                    (estimate, Adjustment::Unchanged)
                }
            }
        };
        match adjustment {
            Adjustment::Forward(ms) => debug!("clock stepped forward {} ms", ms),
            Adjustment::Backward(ms) => debug!("clock stepped back {} ms", ms),
            Adjustment::Initial | Adjustment::Unchanged => {}
        }
        self.anchor = Some(Anchor {
            unix_ms,
            tick_ms: sample.received_at_ms,
        });
        Ok(adjustment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(server_unix_s: u64, sent_at_ms: u64, received_at_ms: u64) -> TimeSample {
        TimeSample {
            server_unix_s,
            sent_at_ms,
            received_at_ms,
        }
    }

    #[test]
    fn unsynced_clock_refuses_to_answer() {
        let clock = WallClock::new();
        assert!(!clock.is_synced());
        assert_eq!(clock.now_unix_ms(5), Err(ClockError::NotSynced));
        assert_eq!(clock.now_unix_s(5), Err(ClockError::NotSynced));
    }

    #[test]
    fn first_sample_sets_the_lower_bound_and_ticks_advance_it() {
        let mut clock = WallClock::new();
        assert_eq!(
            clock.sync(at(1_700_000_000, 10_000, 10_250)),
            Ok(Adjustment::Initial)
        );
        assert_eq!(clock.now_unix_ms(10_250), Ok(1_700_000_000_000));
        assert_eq!(clock.now_unix_ms(11_750), Ok(1_700_000_001_500));
        assert_eq!(clock.now_unix_s(11_750), Ok(1_700_000_001));
        assert_eq!(clock.now_unix_ms(10_000), Err(ClockError::TickBeforeSync));
    }

    #[test]
    fn consistent_samples_change_nothing() {
        let mut clock = WallClock::new();
        clock.sync(at(1_000, 0, 0)).expect("valid");
        // 10.5 s later the server says 1010 s; our estimate 1010.5 s fits in [1010, 1010.999].
        assert_eq!(
            clock.sync(at(1_010, 10_400, 10_500)),
            Ok(Adjustment::Unchanged)
        );
        assert_eq!(clock.now_unix_ms(10_500), Ok(1_010_500));
    }

    #[test]
    fn behind_steps_forward_to_the_lower_bound() {
        let mut clock = WallClock::new();
        clock.sync(at(1_000, 0, 0)).expect("valid");
        assert_eq!(
            clock.sync(at(1_020, 10_000, 10_000)),
            Ok(Adjustment::Forward(10_000))
        );
        assert_eq!(clock.now_unix_ms(10_000), Ok(1_020_000));
    }

    #[test]
    fn ahead_steps_back_only_to_the_upper_bound() {
        let mut clock = WallClock::new();
        clock.sync(at(1_000, 0, 0)).expect("valid");
        // Estimate at tick 10 000 is 1 010 000 ms; the server says 1005 s with a 2 s round trip,
        // so the latest consistent time is 1 005 000 + 999 + 2 000 = 1 007 999 ms.
        assert_eq!(
            clock.sync(at(1_005, 8_000, 10_000)),
            Ok(Adjustment::Backward(2_001))
        );
        assert_eq!(clock.now_unix_ms(10_000), Ok(1_007_999));
    }

    #[test]
    fn bad_samples_are_refused_without_changing_the_clock() {
        let mut clock = WallClock::new();
        assert_eq!(clock.sync(at(1_000, 5, 4)), Err(ClockError::InvalidSample));
        assert!(!clock.is_synced());
        clock.sync(at(1_000, 100, 100)).expect("valid");
        assert_eq!(
            clock.sync(at(2_000, 0, 50)),
            Err(ClockError::TickBeforeSync)
        );
        assert_eq!(clock.now_unix_ms(100), Ok(1_000_000));
    }

    #[test]
    fn extreme_values_saturate() {
        let mut clock = WallClock::new();
        clock.sync(at(u64::MAX, 0, u64::MAX)).expect("valid");
        assert_eq!(clock.now_unix_ms(u64::MAX), Ok(u64::MAX));
        assert_eq!(clock.sync(at(0, 0, u64::MAX)), Ok(Adjustment::Unchanged));
    }

    proptest! {
        #[test]
        fn estimate_always_lands_in_the_sample_window(
            samples in prop::collection::vec((0u64..4_000_000_000, 0u64..5_000, 0u64..60_000), 1..20),
        ) {
            let mut clock = WallClock::new();
            let mut tick = 0u64;
            for (server, round_trip, gap) in samples {
                tick += gap;
                let sent = tick;
                tick += round_trip;
                clock.sync(at(server, sent, tick)).expect("ordered sample");
                let now = clock.now_unix_ms(tick).expect("synced");
                prop_assert!(now >= server * 1_000);
                prop_assert!(now <= server * 1_000 + 999 + round_trip);
            }
        }
    }
}
