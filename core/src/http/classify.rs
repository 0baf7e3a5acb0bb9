//! What to do with a payload after Datadog answered.
//!
//! | status | outcome | why |
//! |---|---|---|
//! | 2xx | [`Outcome::Accepted`] | 202 for intake, 200 for validate and v1 logs |
//! | 401, 403 | [`Outcome::Reprovision`] | the API key is missing, wrong or revoked: fetch the current one from the gateway, keep the payload |
//! | 408, 429, 5xx | [`Outcome::Retry`] | transient; `after` from `Retry-After` / `X-RateLimit-Reset` |
//! | 1xx, 3xx, not 100–599 | [`Outcome::Retry`] | not a verdict on the payload (a captive portal or proxy answers 3xx); back off and try again |
//! | 400, 413, other 4xx | [`Outcome::Drop`] | the payload itself is refused; retrying cannot help |
//!
//! Datadog's intake answers 403 for a bad key; 401 is treated the same because both mean the key
//! cannot be used, and the key is the only credential a device has.

use super::response::ResponseHeaders;

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Outcome {
    /// Datadog took the payload; it can leave the queue.
    Accepted,
    /// Send the same payload again later: after `after` seconds if the server said so, otherwise
    /// after the caller's back-off.
    Retry {
        /// Server-requested delay in seconds.
        after: Option<u32>,
    },
    /// Never resend this payload; count it as dropped with `reason`.
    Drop {
        /// Why it was refused.
        reason: DropReason,
    },
    /// The API key was refused: re-provision, then resend the payload with the new key.
    Reprovision,
}

/// Why Datadog refused a payload for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DropReason {
    /// 400: malformed or invalid payload (bad JSON, too old, bad field).
    BadRequest,
    /// 413: payload over the endpoint's size limit.
    PayloadTooLarge,
    /// Any other 4xx (e.g. 404 for a path the host does not serve).
    ClientError {
        /// The status code.
        status: u16,
    },
}

/// Classifies a response by status and headers (see the module docs for the table).
pub fn classify(status: u16, headers: &ResponseHeaders) -> Outcome {
    match status {
        200..=299 => Outcome::Accepted,
        401 | 403 => Outcome::Reprovision,
        408 | 429 | 500..=599 => Outcome::Retry {
            after: retry_delay(status, headers),
        },
        400 => Outcome::Drop {
            reason: DropReason::BadRequest,
        },
        413 => Outcome::Drop {
            reason: DropReason::PayloadTooLarge,
        },
        402..=499 => Outcome::Drop {
            reason: DropReason::ClientError { status },
        },
        _ => Outcome::Retry { after: None },
    }
}

/// `Retry-After`, and `X-RateLimit-Reset` when the request was rate limited (429 or no requests
/// remaining); the longer wins so neither limit is violated.
fn retry_delay(status: u16, headers: &ResponseHeaders) -> Option<u32> {
    let rate_limited = status == 429 || headers.rate_limit.remaining == Some(0);
    let reset = headers.rate_limit.reset.filter(|_| rate_limited);
    match (headers.retry_after_seconds(), reset) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}
