//! The one error type of the provisioning module: small, `Copy`, and free of any secret or input.

use core::fmt;

/// Why a provisioning step failed. Never carries input bytes, so it is safe to log.
///
/// What a device should do about each variant is in the table of the [module docs](super).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ProvisionError {
    /// `device_id` is not `[a-z0-9._-]{1,64}`.
    InvalidDeviceId,
    /// The fleet name is not `[a-z0-9._-]{1,64}`.
    InvalidFleet,
    /// A device secret in hex was not exactly 64 hex digits.
    InvalidSecretHex,
    /// The caller's output buffer cannot hold the result; nothing was written.
    BufferTooSmall,
    /// The body is not the JSON object this status code calls for (syntax, types, duplicate or
    /// missing fields, trailing data, or a field longer than the protocol allows).
    MalformedBody,
    /// The HTTP status and the body's `"status"` disagree (e.g. 200 with `"pending"`).
    StatusMismatch,
    /// An HTTP status the protocol does not define for this endpoint (e.g. 400, 500). The value
    /// is the status code.
    UnexpectedHttpStatus(u16),
    /// A base64 field is not canonical standard base64 with padding, or has the wrong length.
    InvalidEncoding,
    /// `site` is neither one of the nine Datadog domains nor (when allowed) a sandbox domain.
    InvalidSite,
    /// `site` is a sandbox domain but the device does not allow sandboxes.
    SandboxNotAllowed,
    /// `api_host` or `logs_host` is not the host derived from `site`.
    HostMismatch,
    /// The sealed key does not authenticate under this exchange's key and associated data:
    /// tampering, a replayed response, or a gateway with another fleet key. Never yields a key.
    AuthenticationFailed,
    /// The decrypted API key is empty, longer than [`API_KEY_MAX_LEN`](super::API_KEY_MAX_LEN),
    /// or not printable ASCII (it must be usable as an HTTP header value).
    InvalidApiKey,
    /// `lease_secs` is outside [`LEASE_MIN_SECS`](super::LEASE_MIN_SECS)–
    /// [`LEASE_MAX_SECS`](super::LEASE_MAX_SECS) (10 s to 30 days).
    InvalidLease,
}

impl ProvisionError {
    /// A short, fixed, English description (contains none of the input).
    pub const fn as_str(self) -> &'static str {
        match self {
            ProvisionError::InvalidDeviceId => "device_id must match [a-z0-9._-]{1,64}",
            ProvisionError::InvalidFleet => "fleet name must match [a-z0-9._-]{1,64}",
            ProvisionError::InvalidSecretHex => "device secret must be 64 hex digits",
            ProvisionError::BufferTooSmall => "output buffer too small",
            ProvisionError::MalformedBody => "malformed provisioning response body",
            ProvisionError::StatusMismatch => "HTTP status and body status disagree",
            ProvisionError::UnexpectedHttpStatus(_) => "unexpected HTTP status",
            ProvisionError::InvalidEncoding => "invalid base64 field",
            ProvisionError::InvalidSite => "site is not a known Datadog site",
            ProvisionError::SandboxNotAllowed => "sandbox site not allowed on this device",
            ProvisionError::HostMismatch => "api_host or logs_host does not match site",
            ProvisionError::AuthenticationFailed => "sealed key failed authentication",
            ProvisionError::InvalidApiKey => "decrypted API key is not a valid header value",
            ProvisionError::InvalidLease => "lease_secs must be 10 to 2592000 seconds",
        }
    }
}

impl fmt::Display for ProvisionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProvisionError::UnexpectedHttpStatus(code) => {
                write!(f, "{} {code}", self.as_str())
            }
            other => f.write_str(other.as_str()),
        }
    }
}

impl core::error::Error for ProvisionError {}
