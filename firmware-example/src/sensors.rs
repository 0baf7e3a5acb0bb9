//! Simulated sensors: a temperature random walk (bounded, so it looks like a room) and uptime.

use rand_core::RngCore;

/// Lowest and highest simulated temperature, °C.
const TEMPERATURE_RANGE: (f64, f64) = (-10.0, 45.0);
/// Largest step per sample, °C.
const MAX_STEP: f64 = 0.5;
/// Above this the firmware logs a warning.
pub const TEMPERATURE_WARNING_C: f64 = 30.0;
/// Readings come in hundredths of a °C, as from a real sensor; short numbers also deflate better
/// than full-precision ones.
const STEPS_PER_C: f64 = 100.0;

/// A bounded random walk.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TemperatureWalk {
    celsius: f64,
}

impl TemperatureWalk {
    /// Starts at `celsius` (clamped to the range).
    pub fn new(celsius: f64) -> Self {
        Self {
            celsius: celsius.clamp(TEMPERATURE_RANGE.0, TEMPERATURE_RANGE.1),
        }
    }

    /// The next reading: one uniform step in `[-MAX_STEP, MAX_STEP]`, clamped at the bounds,
    /// read to the sensor's resolution.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_precision_loss,
        reason = "the range bounds a reading to ±4500 steps"
    )]
    pub fn sample(&mut self, rng: &mut impl RngCore) -> f64 {
        let unit = f64::from(rng.next_u32()) / f64::from(u32::MAX);
        let next = self.celsius + (unit * 2.0 - 1.0) * MAX_STEP;
        self.celsius = next.clamp(TEMPERATURE_RANGE.0, TEMPERATURE_RANGE.1);
        // Nearest step (core has no `f64::round`); the range bounds it to ±4500 steps, so the
        // casts are exact. Dividing (not multiplying by 0.01) gives the double nearest the
        // decimal, which prints short.
        let scaled = self.celsius * STEPS_PER_C;
        let half = if scaled < 0.0 { -0.5 } else { 0.5 };
        ((scaled + half) as i64) as f64 / STEPS_PER_C
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counter(u32);
    impl RngCore for Counter {
        fn next_u32(&mut self) -> u32 {
            self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            self.0
        }
        fn next_u64(&mut self) -> u64 {
            u64::from(self.next_u32())
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            dest.fill(7);
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
            dest.fill(7);
            Ok(())
        }
    }

    #[test]
    fn walk_moves_in_small_bounded_steps() {
        let mut walk = TemperatureWalk::new(44.9);
        let mut rng = Counter(1);
        let mut previous = 44.9;
        for _ in 0..10_000 {
            let t = walk.sample(&mut rng);
            assert!((TEMPERATURE_RANGE.0..=TEMPERATURE_RANGE.1).contains(&t));
            assert!((t - previous).abs() <= MAX_STEP + 1.0 / STEPS_PER_C + 1e-9);
            let steps = t * STEPS_PER_C;
            assert!(
                (steps - steps.round()).abs() < 1e-6,
                "{t} is not in 0.01 steps"
            );
            assert!(t.to_string().len() <= 6, "{t} does not print short");
            previous = t;
        }
    }
}
