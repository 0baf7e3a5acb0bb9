//! HTTP/1.1 for Datadog's intake, sans I/O.
//!
//! - [`RequestHead`] writes `POST <path> HTTP/1.1` with `Host`, `DD-API-KEY`, `Content-Type`,
//!   `Content-Encoding`, `Content-Length`, `Accept` and `User-Agent` into a caller's buffer,
//!   refusing any value that could inject a header.
//! - [`ResponseHead::parse`] (raw bytes) or [`ResponseHeaders::observe`] (header pairs from an
//!   HTTP client) extract the status, `Date`, `Content-Type`, `Retry-After`, `X-RateLimit-*` and
//!   `Connection: close`.
//! - [`classify`] turns status and headers into an [`Outcome`]: accepted, retry, drop or
//!   re-provision.

mod classify;
pub(crate) mod date;
mod request;
mod response;

pub use classify::{DropReason, Outcome, classify};
pub use date::parse_http_date;
pub use request::{
    ContentEncoding, DEFAULT_USER_AGENT, Endpoint, HeaderField, HostKind, Method, RequestError,
    RequestHead,
};
pub use response::{
    BodyType, RATE_LIMIT_NAME_MAX_LEN, RateLimit, ResponseError, ResponseHead, ResponseHeaders,
    RetryAfter, parse_status_line,
};

#[cfg(test)]
mod tests;
