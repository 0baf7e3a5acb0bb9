//! What a device tells the gateway about its last attempt to use the key, and the bounds of a
//! lease.

/// Shortest lease a device accepts (and a gateway may set), in seconds: below this a device
/// would spend much of its time provisioning (it renews at 80 %). Field fleets keep the one-day
/// default; seconds-long leases are for test worlds where an ended lease must be seen quickly.
pub const LEASE_MIN_SECS: u32 = 10;
/// Longest lease a device accepts (and a gateway may set), in seconds (30 days): a gateway
/// decision (revocation, a lost connection) reaches every device within this time.
pub const LEASE_MAX_SECS: u32 = 30 * 86_400;

/// Why the device is provisioning again, reported in the step-2 request as `"last_error"` and
/// covered by its MAC. The gateway acts on it (a `Forbidden` asks for a check of the
/// connection's key); the answer does not depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum LastError {
    /// Datadog answered 403 (or 401) to the key this device holds: revoked, rotated, or the
    /// integration was uninstalled.
    Forbidden,
}

/// Longest `last_error` value on the wire, in bytes.
pub const LAST_ERROR_MAX_LEN: usize = 9;

impl LastError {
    /// The wire value (`[a-z_]{1,32}`).
    pub const fn as_str(self) -> &'static str {
        match self {
            LastError::Forbidden => "forbidden",
        }
    }

    /// The variant of a wire value; `None` for a value this version does not know.
    pub fn from_wire(text: &str) -> Option<Self> {
        match text {
            "forbidden" => Some(LastError::Forbidden),
            _ => None,
        }
    }
}

const _: () = assert!(LastError::Forbidden.as_str().len() <= LAST_ERROR_MAX_LEN);
