//! Limits on the device API, per source address and per device, in fixed one-minute windows.
//!
//! - Challenges issued per source address ([`ProvisionLimits::challenges_per_address`]): each
//!   one is a database row, so this bounds what one address can make the gateway store.
//! - Failed step-2 requests per address and per device. They only ever refuse requests whose
//!   MAC does not verify (a device holding its secret is never refused because of others'
//!   failures), and a device's count only grows when the challenge presented was really issued
//!   to that device, so invented challenges naming it cost it nothing. A refused request costs
//!   the gateway no database work.
//!
//! In memory, per gateway instance, at most [`TRACKED_KEYS`] addresses and devices (then new
//! ones share one overflow entry, see [`crate::throttle`]). With several instances behind a
//! balancer each enforces its own windows.

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::throttle::BoundedKeys;

/// The window the limits count in.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Addresses and devices tracked at most.
pub const TRACKED_KEYS: usize = 16_384;

/// Requests allowed per [`WINDOW`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProvisionLimits {
    /// Challenges issued to one source address.
    pub challenges_per_address: u32,
    /// Failed step-2 requests from one source address.
    pub failures_per_address: u32,
    /// Failed step-2 requests for one device, over challenges issued to it.
    pub failures_per_device: u32,
}

impl Default for ProvisionLimits {
    fn default() -> Self {
        Self {
            challenges_per_address: 30,
            failures_per_address: 30,
            failures_per_device: 10,
        }
    }
}

impl ProvisionLimits {
    /// For simulated fleets where every device shares the host's loopback address (the
    /// sandbox): no per-address limits, the per-device one kept.
    pub fn shared_address() -> Self {
        Self {
            challenges_per_address: u32::MAX,
            failures_per_address: u32::MAX,
            ..Self::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Subject {
    Challenges(IpAddr),
    FailuresFrom(IpAddr),
    FailuresOf(String),
}

/// Requests counted in the window that started at `start`.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    count: u32,
}

impl Window {
    fn current(&self, now: Instant) -> bool {
        now.duration_since(self.start) < WINDOW
    }

    /// Seconds until the window ends, if `limit` is used up in it.
    fn exhausted(&self, now: Instant, limit: u32) -> Option<u32> {
        (self.current(now) && self.count >= limit).then(|| {
            let left = WINDOW.saturating_sub(now.duration_since(self.start));
            u32::try_from(left.as_secs().max(1)).unwrap_or(u32::MAX)
        })
    }
}

#[derive(Debug)]
pub struct ProvisionLimiter {
    limits: ProvisionLimits,
    windows: Mutex<BoundedKeys<Subject, Window>>,
}

impl ProvisionLimiter {
    pub fn new(limits: ProvisionLimits) -> Self {
        Self {
            limits,
            windows: Mutex::new(BoundedKeys::new(TRACKED_KEYS)),
        }
    }

    /// Counts a challenge for `address`; `Err(seconds to wait)` if its limit is used up.
    pub fn issue(&self, address: Option<IpAddr>) -> Result<(), u32> {
        let Some(ip) = address else {
            return Ok(()); // in-process callers
        };
        let subject = Subject::Challenges(ip);
        if let Some(wait) = self.exhausted(&[(subject.clone(), self.limits.challenges_per_address)])
        {
            return Err(wait);
        }
        self.count(&[subject]);
        Ok(())
    }

    /// `Some(seconds to wait)` if failing requests for `device` or from `address` are over
    /// their limit.
    pub fn failures_blocked(&self, device: &str, address: Option<IpAddr>) -> Option<u32> {
        let mut subjects = vec![(
            Subject::FailuresOf(device.to_owned()),
            self.limits.failures_per_device,
        )];
        if let Some(ip) = address {
            subjects.push((Subject::FailuresFrom(ip), self.limits.failures_per_address));
        }
        self.exhausted(&subjects)
    }

    /// Counts a failed request from `address`, and against `device` when the challenge it
    /// presented was really issued to that device.
    pub fn record_failure(&self, device: Option<&str>, address: Option<IpAddr>) {
        let subjects: Vec<Subject> = device
            .map(|d| Subject::FailuresOf(d.to_owned()))
            .into_iter()
            .chain(address.map(Subject::FailuresFrom))
            .collect();
        self.count(&subjects);
    }

    fn exhausted(&self, subjects: &[(Subject, u32)]) -> Option<u32> {
        let Ok(mut windows) = self.windows.lock() else {
            return Some(u32::try_from(WINDOW.as_secs()).unwrap_or(60));
        };
        let now = Instant::now();
        subjects
            .iter()
            .filter_map(|(subject, limit)| {
                let slot = windows.slot(subject.clone(), |w| !w.current(now));
                windows.get(&slot)?.exhausted(now, *limit)
            })
            .max()
    }

    fn count(&self, subjects: &[Subject]) {
        let Ok(mut windows) = self.windows.lock() else {
            return;
        };
        let now = Instant::now();
        for subject in subjects {
            let slot = windows.slot(subject.clone(), |w| !w.current(now));
            let window = windows.entry(slot, || Window {
                start: now,
                count: 0,
            });
            if !window.current(now) {
                *window = Window {
                    start: now,
                    count: 0,
                };
            }
            window.count = window.count.saturating_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> ProvisionLimiter {
        ProvisionLimiter::new(ProvisionLimits::default())
    }

    #[test]
    fn failures_block_a_device_and_others_are_not_affected() {
        let limiter = limiter();
        let ip = Some(IpAddr::from([192, 0, 2, 1]));
        for _ in 0..ProvisionLimits::default().failures_per_device {
            assert_eq!(limiter.failures_blocked("f/a", ip), None);
            limiter.record_failure(Some("f/a"), ip);
        }
        let wait = limiter.failures_blocked("f/a", ip).expect("blocked");
        assert!((1..=60).contains(&wait), "{wait}");
        assert_eq!(limiter.failures_blocked("f/b", None), None);
    }

    #[test]
    fn failures_over_unissued_challenges_count_against_the_address_only() {
        let limiter = limiter();
        let ip = Some(IpAddr::from([192, 0, 2, 2]));
        for _ in 0..ProvisionLimits::default().failures_per_address {
            limiter.record_failure(None, ip);
        }
        assert!(limiter.failures_blocked("f/new", ip).is_some());
        assert_eq!(limiter.failures_blocked("f/new", None), None);
        assert_eq!(
            limiter.failures_blocked("f/new", Some(IpAddr::from([192, 0, 2, 3]))),
            None
        );
    }

    #[test]
    fn challenges_are_limited_per_address() {
        let limiter = limiter();
        let ip = Some(IpAddr::from([192, 0, 2, 4]));
        for _ in 0..ProvisionLimits::default().challenges_per_address {
            limiter.issue(ip).unwrap();
        }
        let wait = limiter.issue(ip).unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        limiter.issue(Some(IpAddr::from([192, 0, 2, 5]))).unwrap();
        limiter.issue(None).unwrap();
    }
}
