//! Failed provisioning attempts, limited per device and per source address (sliding window).
//!
//! In memory, per gateway instance: with several instances behind a balancer each enforces its
//! own window, which still bounds an attacker to a small multiple of the limit.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Window over which failures count.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Failures allowed per device (`fleet/device_id`) in [`WINDOW`].
pub const PER_DEVICE: usize = 10;
/// Failures allowed per source address in [`WINDOW`].
pub const PER_ADDRESS: usize = 30;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Subject {
    Device(String),
    Address(IpAddr),
}

#[derive(Debug, Default)]
pub struct FailureLimiter {
    failures: Mutex<HashMap<Subject, VecDeque<Instant>>>,
}

impl FailureLimiter {
    /// `Some(seconds to wait)` if the device or the address used up its failures.
    pub fn blocked(&self, device: &str, address: Option<IpAddr>) -> Option<u32> {
        let Ok(mut failures) = self.failures.lock() else {
            return Some(u32::try_from(WINDOW.as_secs()).unwrap_or(60));
        };
        let now = Instant::now();
        let mut wait = None;
        for (subject, limit) in subjects(device, address) {
            if let Some(list) = failures.get_mut(&subject) {
                prune(list, now);
                if list.len() >= limit
                    && let Some(oldest) = list.front()
                {
                    let left = WINDOW.saturating_sub(now.duration_since(*oldest));
                    let secs = u32::try_from(left.as_secs().max(1)).unwrap_or(u32::MAX);
                    wait = Some(wait.map_or(secs, |w: u32| w.max(secs)));
                }
            }
        }
        wait
    }

    pub fn record_failure(&self, device: &str, address: Option<IpAddr>) {
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        let now = Instant::now();
        for (subject, _) in subjects(device, address) {
            failures.entry(subject).or_default().push_back(now);
        }
        // Bound memory: forget subjects whose failures all left the window.
        if failures.len() > 4096 {
            failures.retain(|_, list| {
                prune(list, now);
                !list.is_empty()
            });
        }
    }
}

fn subjects(device: &str, address: Option<IpAddr>) -> impl Iterator<Item = (Subject, usize)> {
    std::iter::once((Subject::Device(device.to_owned()), PER_DEVICE))
        .chain(address.map(|ip| (Subject::Address(ip), PER_ADDRESS)))
}

fn prune(list: &mut VecDeque<Instant>, now: Instant) {
    while list
        .front()
        .is_some_and(|t| now.duration_since(*t) > WINDOW)
    {
        list.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_is_blocked_after_its_failures_and_others_are_not() {
        let limiter = FailureLimiter::default();
        let ip = Some(IpAddr::from([192, 0, 2, 1]));
        for _ in 0..PER_DEVICE {
            assert_eq!(limiter.blocked("f/a", ip), None);
            limiter.record_failure("f/a", ip);
        }
        let wait = limiter.blocked("f/a", ip).expect("blocked");
        assert!((1..=60).contains(&wait), "{wait}");
        assert_eq!(
            limiter.blocked("f/b", ip),
            None,
            "another device from the same address"
        );
    }

    #[test]
    fn an_address_is_blocked_across_devices() {
        let limiter = FailureLimiter::default();
        let ip = Some(IpAddr::from([192, 0, 2, 2]));
        for n in 0..PER_ADDRESS {
            limiter.record_failure(&format!("f/{n}"), ip);
        }
        assert!(limiter.blocked("f/new", ip).is_some());
        assert_eq!(
            limiter.blocked("f/new", Some(IpAddr::from([192, 0, 2, 3]))),
            None
        );
    }
}
