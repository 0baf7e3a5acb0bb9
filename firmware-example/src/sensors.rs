//! What a device measures ([`Sensors`]), and the simulated sensors every example target uses:
//! a temperature random walk, bounded so it looks like a room. A board with a real sensor
//! implements [`Sensors`] over its driver; uptime and queue levels come from the device itself.

/// The readings the device samples every interval.
pub trait Sensors {
    /// The current temperature in °C.
    fn temperature_c(&mut self) -> f64;
}

/// Lowest and highest simulated temperature, °C.
const TEMPERATURE_RANGE: (f64, f64) = (-10.0, 45.0);
/// Largest step per sample, °C.
const MAX_STEP: f64 = 0.5;
/// Above this the firmware logs a warning.
pub const TEMPERATURE_WARNING_C: f64 = 30.0;

/// A bounded random walk with its own small generator (a simulated reading needs no
/// cryptographic randomness, and must not draw on the device's).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TemperatureWalk {
    celsius: f64,
    state: u64,
}

impl TemperatureWalk {
    /// Starts at `celsius` (clamped to the range); `seed` picks the walk.
    pub fn new(celsius: f64, seed: u64) -> Self {
        Self {
            celsius: celsius.clamp(TEMPERATURE_RANGE.0, TEMPERATURE_RANGE.1),
            state: seed,
        }
    }

    /// SplitMix64: a full-period 64-bit sequence, plenty for a simulated reading.
    fn next_u32(&mut self) -> u32 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        // The high half of the mixed word.
        ((z ^ (z >> 31)) >> 32) as u32
    }
}

impl Sensors for TemperatureWalk {
    /// The next reading: one uniform step in `[-MAX_STEP, MAX_STEP]`, clamped to the range.
    fn temperature_c(&mut self) -> f64 {
        let unit = f64::from(self.next_u32()) / f64::from(u32::MAX);
        let next = self.celsius + (unit * 2.0 - 1.0) * MAX_STEP;
        self.celsius = next.clamp(TEMPERATURE_RANGE.0, TEMPERATURE_RANGE.1);
        self.celsius
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_moves_in_small_bounded_steps() {
        for seed in [0, 1, u64::MAX] {
            let mut walk = TemperatureWalk::new(44.9, seed);
            let mut previous = 44.9;
            let (mut lowest, mut highest) = (f64::MAX, f64::MIN);
            for _ in 0..10_000 {
                let t = walk.temperature_c();
                assert!((TEMPERATURE_RANGE.0..=TEMPERATURE_RANGE.1).contains(&t));
                assert!((t - previous).abs() <= MAX_STEP + 1e-9);
                previous = t;
                lowest = lowest.min(t);
                highest = highest.max(t);
            }
            assert!(highest - lowest > 2.0, "seed {seed}: the walk hardly moves");
        }
    }

    #[test]
    fn seeds_pick_different_walks() {
        let walk = |seed| {
            let mut w = TemperatureWalk::new(21.0, seed);
            [w.temperature_c(), w.temperature_c(), w.temperature_c()]
        };
        assert_eq!(walk(7), walk(7));
        assert_ne!(walk(7), walk(8));
    }
}
