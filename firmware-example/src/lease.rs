//! When the device may submit to Datadog: the lease of its last approval, and what stopped it.
//!
//! Every approval carries `lease_secs` (`docs/PROTOCOL.md`, leases). The device renews at
//! [`RENEW_AT_PER_MILLE`] (80 %) of it; if the lease ends without a successful renewal it stops
//! submitting and keeps buffering (in the uploader's bounded queue). A `revoked` or
//! `not_connected` answer stops it at once; a 403 from Datadog stops it too, and its next
//! provisioning reports `last_error=forbidden` so the gateway checks the key. An approval
//! resumes submitting. Lease times are counted from when the request was sent, so the device's
//! lease never outlasts the gateway's.
//!
//! Pure state over monotonic milliseconds: the device passes its ticker's time, tests a number.

use ddlink_core::provision::LastError;

/// Renewal point, in thousandths of the lease (80 %): a day's lease is renewed after 19.2 h,
/// leaving 4.8 h of retries before the device stops.
pub const RENEW_AT_PER_MILLE: u64 = 800;
/// First wait after a refusal (`revoked`, `not_connected`) or a repeated 403; it doubles on
/// each further one.
pub const RETRY_BASE_MS: u64 = 2_000;
/// Longest wait between provisioning attempts after refusals (5 min).
pub const RETRY_MAX_MS: u64 = 300_000;

/// Why the device is not submitting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// No approval yet (boot).
    NotProvisioned,
    /// The lease ended before a renewal succeeded.
    LeaseExpired,
    /// The gateway answered `revoked`.
    Revoked,
    /// The gateway answered `not_connected`.
    NotConnected,
    /// Datadog answered 403 to the key.
    Forbidden,
}

/// The device's lease and submission state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// When the key may no longer be used (monotonic ms); `None` before the first approval.
    expires_ms: Option<u64>,
    renew_ms: u64,
    stopped: Option<Stopped>,
    report: Option<LastError>,
    /// Refusals since the last approval (back-off of `revoked` / `not_connected`).
    refusals: u32,
    /// 403s since Datadog last accepted a payload: an approval that hands back a key Datadog
    /// keeps refusing must not turn into a provision–submit–403 loop at network speed.
    forbidden_streak: u32,
}

impl Default for Lease {
    fn default() -> Self {
        Self::new()
    }
}

impl Lease {
    /// Before the first approval: not submitting.
    pub const fn new() -> Self {
        Self {
            expires_ms: None,
            renew_ms: 0,
            stopped: Some(Stopped::NotProvisioned),
            report: None,
            refusals: 0,
            forbidden_streak: 0,
        }
    }

    /// An approval of a request sent at `sent_ms` with a lease of `lease_secs`: submitting
    /// resumes, the report was delivered.
    pub fn approved(&mut self, sent_ms: u64, lease_secs: u32) {
        let lease_ms = u64::from(lease_secs) * 1_000;
        self.expires_ms = Some(sent_ms.saturating_add(lease_ms));
        self.renew_ms = sent_ms.saturating_add(lease_ms / 1_000 * RENEW_AT_PER_MILLE);
        self.stopped = None;
        self.report = None;
        self.refusals = 0;
    }

    /// When to provision again to renew (`u64::MAX` before the first approval).
    pub fn renew_at_ms(&self) -> u64 {
        self.expires_ms.map_or(u64::MAX, |_| self.renew_ms)
    }

    /// When the current lease ends, while the device is submitting under it.
    pub fn expires_at_ms(&self) -> Option<u64> {
        self.expires_ms.filter(|_| self.stopped.is_none())
    }

    /// Ends the lease if `now_ms` reached its end; `true` exactly when it ended now (the caller
    /// forgets the key).
    pub fn check_expiry(&mut self, now_ms: u64) -> bool {
        let ended = self.expires_at_ms().is_some_and(|end| now_ms >= end);
        if ended {
            self.stopped = Some(Stopped::LeaseExpired);
        }
        ended
    }

    /// Whether payloads may be sent at `now_ms`.
    pub fn may_submit(&self, now_ms: u64) -> bool {
        self.expires_at_ms().is_some_and(|end| now_ms < end)
    }

    /// Why the device is not submitting, if it is not.
    pub fn stopped(&self) -> Option<Stopped> {
        self.stopped
    }

    /// Whether any approval was received (the wall clock is set, so sampling can run).
    pub fn ever_approved(&self) -> bool {
        self.expires_ms.is_some()
    }

    /// The gateway refused (`revoked` or `not_connected`) at `now_ms`: stop at once; returns
    /// when to ask again (doubling from [`RETRY_BASE_MS`] up to [`RETRY_MAX_MS`]).
    pub fn refused(&mut self, now_ms: u64, why: Stopped) -> u64 {
        self.stopped = Some(why);
        self.refusals = self.refusals.saturating_add(1);
        now_ms.saturating_add(backoff_ms(self.refusals))
    }

    /// Datadog answered 403 at `now_ms`: stop, report it at the next provisioning, and return
    /// when that is (at once for the first 403 since an accepted payload, then backing off).
    pub fn forbidden(&mut self, now_ms: u64) -> u64 {
        self.stopped = Some(Stopped::Forbidden);
        self.report = Some(LastError::Forbidden);
        self.forbidden_streak = self.forbidden_streak.saturating_add(1);
        match self.forbidden_streak {
            1 => now_ms,
            streak => now_ms.saturating_add(backoff_ms(streak - 1)),
        }
    }

    /// Datadog accepted a payload: the key works.
    pub fn accepted(&mut self) {
        self.forbidden_streak = 0;
    }

    /// What the next provisioning request reports.
    pub fn last_error(&self) -> Option<LastError> {
        self.report
    }
}

/// `RETRY_BASE_MS · 2^(n-1)`, at most [`RETRY_MAX_MS`].
fn backoff_ms(n: u32) -> u64 {
    let doublings = n.saturating_sub(1).min(16);
    RETRY_BASE_MS
        .saturating_mul(1 << doublings)
        .min(RETRY_MAX_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_S: u32 = 86_400;

    #[test]
    fn renews_at_80_percent_and_stops_when_the_lease_ends() {
        let mut lease = Lease::new();
        assert_eq!(lease.stopped(), Some(Stopped::NotProvisioned));
        assert!(!lease.may_submit(0));
        assert_eq!(lease.renew_at_ms(), u64::MAX);

        lease.approved(1_000, DAY_S);
        assert_eq!(
            lease.renew_at_ms(),
            1_000 + 69_120_000,
            "19.2 h after the request"
        );
        assert_eq!(lease.expires_at_ms(), Some(1_000 + 86_400_000));
        assert!(lease.may_submit(1_000 + 86_399_999));
        assert!(!lease.check_expiry(1_000 + 86_399_999));
        assert!(
            lease.check_expiry(1_000 + 86_400_000),
            "ends exactly at the lease"
        );
        assert_eq!(lease.stopped(), Some(Stopped::LeaseExpired));
        assert!(!lease.may_submit(1_000 + 86_400_000));
        assert!(!lease.check_expiry(1_000 + 86_400_001), "reported once");
        assert_eq!(lease.last_error(), None, "an expiry is nothing to report");

        // A late renewal resumes, with a lease from its own request.
        lease.approved(90_000_000, 60);
        assert!(lease.may_submit(90_000_000));
        assert_eq!(lease.renew_at_ms(), 90_048_000);
        assert_eq!(lease.expires_at_ms(), Some(90_060_000));
    }

    #[test]
    fn a_renewal_in_time_extends_the_lease() {
        let mut lease = Lease::new();
        lease.approved(0, 100);
        assert_eq!(lease.renew_at_ms(), 80_000);
        lease.approved(80_000, 100);
        assert!(!lease.check_expiry(100_000));
        assert!(lease.may_submit(179_999));
        assert!(lease.check_expiry(180_000));
    }

    #[test]
    fn not_connected_and_revoked_stop_at_once_and_back_off() {
        let mut lease = Lease::new();
        lease.approved(0, DAY_S);
        assert_eq!(lease.refused(10_000, Stopped::NotConnected), 12_000);
        assert!(
            !lease.may_submit(10_000),
            "well inside the lease, yet stopped"
        );
        assert_eq!(lease.stopped(), Some(Stopped::NotConnected));
        assert_eq!(lease.expires_at_ms(), None);
        assert_eq!(lease.refused(12_000, Stopped::NotConnected), 16_000);
        assert_eq!(lease.refused(16_000, Stopped::Revoked), 24_000);
        let mut at = 24_000;
        for _ in 0..20 {
            let next = lease.refused(at, Stopped::Revoked);
            assert!(next - at <= RETRY_MAX_MS);
            at = next;
        }
        assert_eq!(lease.refused(at, Stopped::Revoked) - at, RETRY_MAX_MS);
        lease.approved(at, DAY_S);
        assert!(lease.may_submit(at));
        assert_eq!(
            lease.refused(at, Stopped::Revoked) - at,
            RETRY_BASE_MS,
            "reset"
        );
    }

    #[test]
    fn a_403_stops_and_is_reported_at_the_next_provisioning() {
        let mut lease = Lease::new();
        lease.approved(0, DAY_S);
        assert_eq!(lease.last_error(), None);
        assert_eq!(
            lease.forbidden(5_000),
            5_000,
            "the first report goes at once"
        );
        assert_eq!(lease.stopped(), Some(Stopped::Forbidden));
        assert!(!lease.may_submit(5_000));
        assert_eq!(lease.last_error(), Some(LastError::Forbidden));
        // The report stays until an approval delivers it.
        assert_eq!(lease.refused(5_100, Stopped::NotConnected), 7_100);
        assert_eq!(lease.last_error(), Some(LastError::Forbidden));
        lease.approved(7_100, DAY_S);
        assert_eq!(lease.last_error(), None);
        assert!(lease.may_submit(7_100));

        // The same key refused again before Datadog accepted anything: back off.
        assert_eq!(lease.forbidden(8_000), 8_000 + RETRY_BASE_MS);
        lease.approved(10_000, DAY_S);
        assert_eq!(lease.forbidden(11_000), 11_000 + 2 * RETRY_BASE_MS);
        // An accepted payload proves the key: the next 403 is reported at once again.
        lease.approved(16_000, DAY_S);
        lease.accepted();
        assert_eq!(lease.forbidden(17_000), 17_000);
    }
}
