//! Capped exponential back-off with jitter, honouring a server-requested delay.
//!
//! Jitter spreads a fleet's retries so devices that failed together do not retry together. The
//! random source is the caller's (`FnMut() -> u32`, e.g. from the board's RNG), so the schedule is
//! deterministic in tests. All arithmetic saturates: no input or attempt count can overflow.
//!
//! ```
//! use ddlink_core::retry::{Backoff, BackoffConfig};
//! let mut backoff = Backoff::new(BackoffConfig::default());
//! let mut random = || 0x8000_0000u32; // the board's RNG in real use
//! let first = backoff.next_delay(&mut random, None);
//! let second = backoff.next_delay(&mut random, None);
//! assert!(first <= second);
//! // The server asked for 30 s (`Outcome::Retry { after: Some(30) }`): never earlier.
//! assert!(backoff.next_delay(&mut random, Some(30)).as_secs() >= 30);
//! backoff.reset(); // after `Outcome::Accepted`
//! assert_eq!(backoff.attempts(), 0);
//! ```

use core::time::Duration;

/// How the delay is drawn from the exponential envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Jitter {
    /// Uniform in `[0, min(cap, base · 2^attempt)]` ("full jitter").
    Full,
    /// Uniform in `[base, min(cap, 3 · previous)]` ("decorrelated jitter").
    Decorrelated,
}

/// Back-off parameters, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BackoffConfig {
    /// First step (and the spread added to a server-requested delay); 0 is treated as 1.
    pub base_ms: u32,
    /// Largest delay the back-off itself produces (a server-requested delay may be longer).
    pub cap_ms: u32,
    /// Jitter strategy.
    pub jitter: Jitter,
}

impl Default for BackoffConfig {
    /// 1 s base, 5 min cap, full jitter.
    fn default() -> Self {
        BackoffConfig {
            base_ms: 1_000,
            cap_ms: 300_000,
            jitter: Jitter::Full,
        }
    }
}

/// Retry state for one queue or connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Backoff {
    config: BackoffConfig,
    attempts: u32,
    previous_ms: u32,
}

impl Backoff {
    /// A fresh back-off (no attempts yet).
    pub const fn new(config: BackoffConfig) -> Backoff {
        Backoff {
            config,
            attempts: 0,
            previous_ms: 0,
        }
    }

    /// Failed attempts since the last [`Backoff::reset`] (saturates at `u32::MAX`).
    pub const fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The configuration.
    pub const fn config(&self) -> BackoffConfig {
        self.config
    }

    /// Call after a success: the next failure starts from the base delay again.
    pub fn reset(&mut self) {
        self.attempts = 0;
        self.previous_ms = 0;
    }

    /// Records a failed attempt and returns how long to wait before the next one.
    ///
    /// `server_after_s` is the delay from [`Outcome::Retry`](crate::http::Outcome::Retry): when
    /// present the wait is that delay plus a uniform spread in `[0, base]` (so a fleet does not
    /// return at the same second), however large it is; otherwise it is the jittered back-off.
    pub fn next_delay(
        &mut self,
        random: &mut impl FnMut() -> u32,
        server_after_s: Option<u32>,
    ) -> Duration {
        let base = self.config.base_ms.max(1);
        let cap = self.config.cap_ms.max(base);
        let backoff_ms = match self.config.jitter {
            Jitter::Full => {
                let shift = self.attempts.min(32);
                let envelope = (u64::from(base) << shift).min(u64::from(cap));
                uniform_inclusive(random(), 0, saturate_u32(envelope))
            }
            Jitter::Decorrelated => {
                let previous = self.previous_ms.max(base);
                let upper = previous.saturating_mul(3).min(cap);
                uniform_inclusive(random(), base, upper)
            }
        };
        self.previous_ms = backoff_ms;
        self.attempts = self.attempts.saturating_add(1);
        match server_after_s {
            None => Duration::from_millis(u64::from(backoff_ms)),
            Some(seconds) => {
                let spread = uniform_inclusive(random(), 0, base);
                Duration::from_millis(
                    u64::from(seconds)
                        .saturating_mul(1_000)
                        .saturating_add(u64::from(spread)),
                )
            }
        }
    }
}

/// Maps a uniform `u32` onto `[low, high]` by multiply-shift (no division, bias < 2^-32 per
/// value); `low` if the range is empty.
fn uniform_inclusive(random: u32, low: u32, high: u32) -> u32 {
    let Some(width) = high.checked_sub(low) else {
        return low;
    };
    let span = u64::from(width) + 1;
    let offset = (u64::from(random) * span) >> 32;
    low.saturating_add(saturate_u32(offset))
}

fn saturate_u32(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fixed(value: u32) -> impl FnMut() -> u32 {
        move || value
    }

    #[test]
    fn full_jitter_envelope_doubles_up_to_the_cap() {
        let config = BackoffConfig {
            base_ms: 100,
            cap_ms: 1_000,
            jitter: Jitter::Full,
        };
        let mut backoff = Backoff::new(config);
        let mut highest = fixed(u32::MAX);
        let delays: Vec<u128> = (0..6)
            .map(|_| backoff.next_delay(&mut highest, None).as_millis())
            .collect();
        // With the largest random value each delay is (almost exactly) the envelope.
        assert_eq!(delays, [100, 200, 400, 800, 1_000, 1_000]);
        assert_eq!(backoff.attempts(), 6);
        let mut lowest = fixed(0);
        assert_eq!(backoff.next_delay(&mut lowest, None), Duration::ZERO);
        backoff.reset();
        assert_eq!(backoff.attempts(), 0);
        assert_eq!(backoff.next_delay(&mut highest, None).as_millis(), 100);
    }

    #[test]
    fn decorrelated_jitter_stays_between_base_and_three_times_previous() {
        let config = BackoffConfig {
            base_ms: 100,
            cap_ms: 2_000,
            jitter: Jitter::Decorrelated,
        };
        let mut backoff = Backoff::new(config);
        let mut highest = fixed(u32::MAX);
        let delays: Vec<u128> = (0..5)
            .map(|_| backoff.next_delay(&mut highest, None).as_millis())
            .collect();
        assert_eq!(delays, [300, 900, 2_000, 2_000, 2_000]);
        let mut lowest = fixed(0);
        assert_eq!(backoff.next_delay(&mut lowest, None).as_millis(), 100);
        // After a low draw the next envelope shrinks back to 3 × 100.
        assert_eq!(backoff.next_delay(&mut highest, None).as_millis(), 300);
    }

    #[test]
    fn server_delay_wins_even_beyond_the_cap() {
        let mut backoff = Backoff::new(BackoffConfig::default());
        let mut lowest = fixed(0);
        assert_eq!(
            backoff.next_delay(&mut lowest, Some(3_600)),
            Duration::from_secs(3_600)
        );
        let mut highest = fixed(u32::MAX);
        assert_eq!(
            backoff.next_delay(&mut highest, Some(2)),
            Duration::from_millis(2_000 + 1_000)
        );
        assert_eq!(backoff.attempts(), 2);
        let huge = backoff.next_delay(&mut highest, Some(u32::MAX));
        assert_eq!(huge.as_millis(), u128::from(u32::MAX) * 1_000 + 1_000);
    }

    #[test]
    fn zero_and_inverted_configs_are_safe() {
        let config = BackoffConfig {
            base_ms: 0,
            cap_ms: 0,
            jitter: Jitter::Decorrelated,
        };
        let mut backoff = Backoff::new(config);
        let mut highest = fixed(u32::MAX);
        assert_eq!(backoff.next_delay(&mut highest, None).as_millis(), 1);
        let inverted = BackoffConfig {
            base_ms: 500,
            cap_ms: 10,
            jitter: Jitter::Full,
        };
        let mut backoff = Backoff::new(inverted);
        assert_eq!(backoff.next_delay(&mut highest, None).as_millis(), 500);
    }

    #[test]
    fn uniform_mapping_covers_the_range() {
        assert_eq!(uniform_inclusive(0, 5, 9), 5);
        assert_eq!(uniform_inclusive(u32::MAX, 5, 9), 9);
        assert_eq!(uniform_inclusive(u32::MAX / 2, 0, 1), 0);
        assert_eq!(uniform_inclusive(u32::MAX / 2 + 1, 0, 1), 1);
        assert_eq!(uniform_inclusive(u32::MAX, 0, u32::MAX), u32::MAX);
        assert_eq!(uniform_inclusive(123, 7, 3), 7);
    }

    proptest! {
        #[test]
        fn delays_stay_within_bounds(
            base in any::<u32>(),
            cap in any::<u32>(),
            decorrelated in any::<bool>(),
            draws in prop::collection::vec(any::<u32>(), 1..80),
            server in prop::option::of(any::<u32>()),
        ) {
            let jitter = if decorrelated { Jitter::Decorrelated } else { Jitter::Full };
            let mut backoff = Backoff::new(BackoffConfig { base_ms: base, cap_ms: cap, jitter });
            let mut draws_iter = draws.iter().copied().cycle();
            let mut random = move || draws_iter.next().unwrap_or(0);
            let upper = u128::from(cap.max(base.max(1)));
            for _ in 0..draws.len() {
                let delay = backoff.next_delay(&mut random, None).as_millis();
                prop_assert!(delay <= upper);
                if decorrelated {
                    prop_assert!(delay >= u128::from(base.max(1)));
                }
            }
            if let Some(seconds) = server {
                let delay = backoff.next_delay(&mut random, Some(seconds)).as_millis();
                prop_assert!(delay >= u128::from(seconds) * 1_000);
                prop_assert!(delay <= u128::from(seconds) * 1_000 + u128::from(base.max(1)));
            }
        }
    }
}
