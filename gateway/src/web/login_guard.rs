//! Throttling of admin sign-in (the login form and `/api/status` bearer tokens).
//!
//! - Every attempt is counted as a failure *before* its Argon2id check starts, so a burst of
//!   concurrent guesses sees the earlier ones; a correct credential takes its address's count
//!   back afterwards.
//! - Back-off per source address (IPv6 by /64) and for the admin account as a whole: after a
//!   few free failures, each further attempt must wait twice as long as the previous one after
//!   the last failure, up to a cap; a key quiet for [`FORGET_AFTER`] starts over. The account's
//!   cap is short, so a distributed guesser slows everybody's sign-in down to one attempt per
//!   [`ACCOUNT_MAX_DELAY`] but never locks the admin out.
//! - At most [`TRACKED_ADDRESSES`] addresses are remembered; beyond that, new addresses share
//!   one overflow entry (memory stays bounded and the overflow is throttled like one address).
//! - At most [`CONCURRENT_CHECKS`] Argon2id checks (19 MiB each) run at once, with up to
//!   [`QUEUED_CHECKS`] more waiting; further attempts are answered at once with "busy".
//!
//! In memory, per gateway instance.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret as _, SecretString};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::session::{Argon2Memory, password_matches_in};
use crate::metrics::Metrics;
use crate::store::tenant::{OPERATOR, User};
use crate::store::{Store, StoreError};
use crate::throttle::{BoundedKeys, Slot};

/// Failures a source address may make before back-off starts.
pub const ADDRESS_FREE_FAILURES: u32 = 5;
/// Longest wait imposed on one address.
pub const ADDRESS_MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// Failures on the admin account (from all addresses) before back-off starts.
pub const ACCOUNT_FREE_FAILURES: u32 = 20;
/// Longest wait imposed on the account: the admin is never kept out for longer.
pub const ACCOUNT_MAX_DELAY: Duration = Duration::from_secs(60);
/// The first back-off step; each further failure doubles it.
const BASE_DELAY: Duration = Duration::from_secs(1);
/// A key without failures for this long is forgotten.
pub const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Addresses remembered at most (about 64 bytes each).
pub const TRACKED_ADDRESSES: usize = 10_000;
/// Argon2id checks running at once.
pub const CONCURRENT_CHECKS: usize = 2;
/// Attempts waiting for a check slot; more are refused as busy.
pub const QUEUED_CHECKS: usize = 8;
/// `Retry-After` for a busy refusal.
const BUSY_RETRY_SECS: u32 = 1;

/// Failures of one key and when the last one was counted.
#[derive(Debug, Clone, Copy)]
struct Backoff {
    failures: u32,
    last: Instant,
}

impl Backoff {
    fn new(now: Instant) -> Self {
        Self {
            failures: 0,
            last: now,
        }
    }

    /// How long until another attempt may be checked (`None`: now).
    fn wait(&self, now: Instant, free: u32, max: Duration) -> Option<Duration> {
        let over = self.failures.checked_sub(free)?;
        let delay = BASE_DELAY
            .checked_mul(1u32.checked_shl(over).unwrap_or(u32::MAX))
            .map_or(max, |d| d.min(max));
        delay
            .checked_sub(now.duration_since(self.last))
            .filter(|left| !left.is_zero())
    }

    fn forgotten(&self, now: Instant) -> bool {
        now.duration_since(self.last) > FORGET_AFTER
    }

    fn count(&mut self, now: Instant) {
        if self.forgotten(now) {
            self.failures = 0;
        }
        self.failures = self.failures.saturating_add(1);
        self.last = now;
    }
}

fn address_key(addr: Option<IpAddr>) -> IpAddr {
    match addr {
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(bits))
            }
        },
        Some(v4) => v4,
        // In-process callers (no peer address) share one entry.
        None => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// Back-off per address: IPv4 addresses, the /64 networks of IPv6 ones (one host's usual
/// allocation).
#[derive(Debug)]
struct Tracked {
    addresses: BoundedKeys<IpAddr, Backoff>,
    account: Backoff,
}

/// The sign-in throttle and the bound on concurrent Argon2id checks.
#[derive(Debug)]
pub struct LoginGuard {
    tracked: Mutex<Tracked>,
    checks: Arc<Semaphore>,
    queued: AtomicUsize,
    /// Working memory of finished checks, reused by the next ones: at most one per check slot
    /// is ever allocated, so the checks' memory is bounded by [`CONCURRENT_CHECKS`] × 19 MiB.
    memory: Arc<Mutex<Vec<Argon2Memory>>>,
}

impl Default for LoginGuard {
    fn default() -> Self {
        Self {
            tracked: Mutex::new(Tracked {
                addresses: BoundedKeys::new(TRACKED_ADDRESSES),
                account: Backoff::new(Instant::now()),
            }),
            checks: Arc::new(Semaphore::new(CONCURRENT_CHECKS)),
            queued: AtomicUsize::new(0),
            memory: Arc::default(),
        }
    }
}

/// An attempt counted (as a failure until it proves otherwise) against this address entry.
#[derive(Debug)]
struct Counted(Slot<IpAddr>);

/// What became of a sign-in attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignIn {
    /// The credential is this user's.
    Accepted(User),
    Refused,
    /// Not checked: back-off or too many checks in progress. Retry after this many seconds.
    Throttled {
        retry_after_secs: u32,
    },
}

fn whole_secs(wait: Duration) -> u32 {
    u32::try_from(wait.as_secs().max(1)).unwrap_or(u32::MAX)
}

impl LoginGuard {
    /// Counts an attempt from `addr` if neither its address nor the account is in back-off;
    /// otherwise how long to wait.
    fn admit(&self, addr: Option<IpAddr>) -> Result<Counted, Duration> {
        let Ok(mut tracked) = self.tracked.lock() else {
            return Err(ACCOUNT_MAX_DELAY);
        };
        let now = Instant::now();
        let key = tracked
            .addresses
            .slot(address_key(addr), |b| b.forgotten(now));
        let address = tracked
            .addresses
            .get(&key)
            .copied()
            .unwrap_or_else(|| Backoff::new(now));
        let wait = [
            address.wait(now, ADDRESS_FREE_FAILURES, ADDRESS_MAX_DELAY),
            tracked
                .account
                .wait(now, ACCOUNT_FREE_FAILURES, ACCOUNT_MAX_DELAY),
        ]
        .into_iter()
        .flatten()
        .max();
        if let Some(wait) = wait {
            return Err(wait);
        }
        tracked
            .addresses
            .entry(key.clone(), || Backoff::new(now))
            .count(now);
        tracked.account.count(now);
        Ok(Counted(key))
    }

    /// Takes back an attempt that was never checked (no slot free).
    fn refund(&self, counted: Counted) {
        self.settle(counted, false);
    }

    /// A correct credential: forgets its address's failures and takes its own count back from
    /// the account.
    fn accepted(&self, counted: Counted) {
        self.settle(counted, true);
    }

    fn settle(&self, Counted(key): Counted, forget_address: bool) {
        if let Ok(mut tracked) = self.tracked.lock() {
            tracked.account.failures = tracked.account.failures.saturating_sub(1);
            if forget_address {
                tracked.addresses.remove(&key);
            } else if let Some(address) = tracked.addresses.get_mut(&key) {
                address.failures = address.failures.saturating_sub(1);
            }
        }
    }

    /// A check slot, waiting in a short queue if all are taken; `None` when the queue is full.
    async fn check_slot(&self) -> Option<OwnedSemaphorePermit> {
        if let Ok(permit) = self.checks.clone().try_acquire_owned() {
            return Some(permit);
        }
        if self.queued.fetch_add(1, Ordering::AcqRel) >= QUEUED_CHECKS {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        // Leaves the queue even if the request is dropped while waiting.
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let _waiting = Waiting(&self.queued);
        self.checks.clone().acquire_owned().await.ok()
    }

    /// Tracked address entries (tests: the memory bound).
    pub fn tracked_addresses(&self) -> usize {
        self.tracked
            .lock()
            .map_or(0, |t| t.addresses.tracked_keys())
    }
}

/// An Argon2id hash no password matches (its salt and output are random), checked for unknown
/// user names so that they cost what known ones do.
fn unknown_user_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        let mut noise = [0u8; 32];
        let _ = getrandom::fill(&mut noise);
        let noise: String = noise.iter().map(|b| format!("{b:02x}")).collect();
        super::session::hash_password(&noise).unwrap_or_default()
    })
}

/// Checks a sign-in from `addr` under the throttle and records the outcome in the
/// `ddlink_admin_logins_total` metric (`ok`, `failed`, `rate_limited`, `busy`). Without a user
/// name (or with `operator`) the candidate is checked against the admin credential and signs
/// in the operator; otherwise against that tenant admin's password.
pub async fn sign_in(
    guard: &LoginGuard,
    store: &Store,
    metrics: &Metrics,
    addr: Option<IpAddr>,
    user: Option<&str>,
    candidate: SecretString,
) -> Result<SignIn, StoreError> {
    let counted = match guard.admit(addr) {
        Ok(counted) => counted,
        Err(wait) => {
            metrics.login("rate_limited");
            return Ok(SignIn::Throttled {
                retry_after_secs: whole_secs(wait),
            });
        }
    };
    let Some(slot) = guard.check_slot().await else {
        guard.refund(counted);
        metrics.login("busy");
        return Ok(SignIn::Throttled {
            retry_after_secs: BUSY_RETRY_SECS,
        });
    };
    let (stored, user) = match user.filter(|name| !name.is_empty() && *name != OPERATOR) {
        None => {
            let Some(stored) = store.admin_password_hash().await? else {
                metrics.login("failed");
                return Ok(SignIn::Refused);
            };
            (stored, Some(User::operator()))
        }
        Some(name) => match store.user_password_hash(name).await? {
            Some((tenant, stored)) => {
                let admin = User {
                    name: name.to_owned(),
                    tenant,
                    operator: false,
                };
                (stored, Some(admin))
            }
            None => (unknown_user_hash().to_owned(), None),
        },
    };
    // The slot moves into the blocking task: it is held until the check really ends, even if
    // the request is dropped meanwhile.
    let pool = guard.memory.clone();
    let matched = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let mut memory = pool
            .lock()
            .ok()
            .and_then(|mut p| p.pop())
            .unwrap_or_default();
        let matched =
            password_matches_in(&stored, candidate.expose_secret().as_bytes(), &mut memory);
        if let Ok(mut pool) = pool.lock() {
            pool.push(memory);
        }
        matched
    })
    .await
    .unwrap_or(false);
    if let (true, Some(user)) = (matched, user) {
        guard.accepted(counted);
        metrics.login("ok");
        Ok(SignIn::Accepted(user))
    } else {
        metrics.login("failed");
        Ok(SignIn::Refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(a: u8, b: u8) -> Option<IpAddr> {
        Some(IpAddr::from([10, 0, a, b]))
    }

    #[test]
    fn an_address_backs_off_after_its_free_failures_and_others_do_not() {
        let guard = LoginGuard::default();
        for _ in 0..ADDRESS_FREE_FAILURES {
            guard.admit(ip(0, 1)).unwrap();
        }
        let wait = guard.admit(ip(0, 1)).unwrap_err();
        assert!(wait <= BASE_DELAY && wait > Duration::ZERO, "{wait:?}");
        guard.admit(ip(0, 2)).unwrap();
        // A correct credential forgets the address's failures.
        let counted = guard.admit(ip(0, 3)).unwrap();
        guard.accepted(counted);
        assert_eq!(guard.tracked_addresses(), 2);
    }

    #[test]
    fn back_off_doubles_up_to_its_cap() {
        let now = Instant::now();
        let mut backoff = Backoff::new(now);
        for _ in 0..ACCOUNT_FREE_FAILURES {
            backoff.count(now);
        }
        let waits: Vec<_> = (0..8)
            .map(|_| {
                let wait = backoff.wait(now, ACCOUNT_FREE_FAILURES, ACCOUNT_MAX_DELAY);
                backoff.count(now);
                wait.unwrap().as_secs()
            })
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
        let later = now + ACCOUNT_MAX_DELAY;
        assert_eq!(
            backoff.wait(later, ACCOUNT_FREE_FAILURES, ACCOUNT_MAX_DELAY),
            None
        );
        backoff.failures = u32::MAX;
        assert_eq!(
            backoff.wait(now, ACCOUNT_FREE_FAILURES, ACCOUNT_MAX_DELAY),
            Some(ACCOUNT_MAX_DELAY)
        );
    }

    #[test]
    fn the_account_backs_off_for_guesses_from_many_addresses() {
        let guard = LoginGuard::default();
        for n in 0..ACCOUNT_FREE_FAILURES {
            guard.admit(ip(1, u8::try_from(n).unwrap())).unwrap();
        }
        assert!(guard.admit(ip(2, 1)).is_err(), "a fresh address");
    }

    #[test]
    fn tracked_addresses_are_bounded_and_the_overflow_is_throttled() {
        let guard = LoginGuard::default();
        if let Ok(mut tracked) = guard.tracked.lock() {
            let now = Instant::now();
            for n in 0..TRACKED_ADDRESSES {
                let addr = IpAddr::from(u32::try_from(n).unwrap().to_be_bytes());
                let slot = tracked.addresses.slot(addr, |_| false);
                tracked.addresses.entry(slot, || Backoff::new(now));
            }
        }
        let fresh = |n: u32| Some(IpAddr::from([192, 0, 2, u8::try_from(n).unwrap()]));
        for n in 0..ADDRESS_FREE_FAILURES {
            guard.admit(fresh(n)).unwrap();
            // The account's budget is not what is tested here.
            guard.tracked.lock().unwrap().account.failures = 0;
        }
        assert_eq!(guard.tracked_addresses(), TRACKED_ADDRESSES);
        assert!(
            guard.admit(fresh(200)).is_err(),
            "untracked addresses share the overflow entry's back-off"
        );
    }

    #[test]
    fn ipv6_addresses_are_grouped_by_64_bit_prefix() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(Some(a)), address_key(Some(b)));
        assert_ne!(address_key(Some(a)), address_key(Some(c)));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(address_key(Some(mapped)), IpAddr::from([192, 0, 2, 1]));
    }

    #[tokio::test]
    async fn check_slots_are_bounded_with_a_short_queue() {
        let guard = Arc::new(LoginGuard::default());
        let mut held = Vec::new();
        for _ in 0..CONCURRENT_CHECKS {
            held.push(guard.check_slot().await.unwrap());
        }
        let mut waiting = Vec::new();
        for _ in 0..QUEUED_CHECKS {
            let guard = guard.clone();
            waiting.push(tokio::spawn(
                async move { guard.check_slot().await.is_some() },
            ));
        }
        while guard.queued.load(Ordering::Acquire) < QUEUED_CHECKS {
            tokio::task::yield_now().await;
        }
        assert!(guard.check_slot().await.is_none(), "queue full: busy");
        drop(held);
        for waiter in waiting {
            assert!(waiter.await.unwrap());
        }
        assert_eq!(guard.queued.load(Ordering::Acquire), 0);
    }
}
