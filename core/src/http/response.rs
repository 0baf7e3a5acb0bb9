//! Response heads: the status line and the few headers the uploader acts on.
//!
//! Two ways in: [`ResponseHead::parse`] for a raw head buffer, or [`ResponseHeaders::observe`] once
//! per header for HTTP clients that hand out status and header pairs separately. Both keep only
//! what [`classify`](super::classify) and the clock need, so nothing borrows the input afterwards.
//!
//! Header names match ASCII case-insensitively; values may carry leading/trailing spaces or tabs.
//! A malformed value of a known header is ignored (that field stays `None`) rather than failing
//! the whole response: a bad `X-RateLimit-Reset` must not hide a 202.

use core::fmt;

use super::date::parse_http_date;
use crate::inline_str::InlineStr;

/// Longest `X-RateLimit-Name` kept; a longer one is dropped (the field stays `None`).
pub const RATE_LIMIT_NAME_MAX_LEN: usize = 64;

/// The media type of a response body, enough to decide whether to read it as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BodyType {
    /// `application/json`, `text/json` (what `/api/v1/check_run` answers with), or an
    /// `application/…+json` type such as `application/vnd.api+json`.
    Json,
    /// `text/plain`.
    Text,
    /// `text/html` (e.g. a proxy's or load balancer's error page).
    Html,
    /// Any other media type.
    Other,
}

impl BodyType {
    fn from_header(value: &[u8]) -> BodyType {
        let essence = value
            .split(|&byte| byte == b';')
            .next()
            .unwrap_or(&[])
            .trim_ascii();
        let is = |name: &[u8]| essence.eq_ignore_ascii_case(name);
        let json_suffix = essence
            .len()
            .checked_sub(5)
            .and_then(|start| essence.get(start..))
            .is_some_and(|suffix| suffix.eq_ignore_ascii_case(b"+json"));
        if is(b"application/json")
            || is(b"text/json")
            || (json_suffix && starts_with_ignore_case(essence, b"application/"))
        {
            BodyType::Json
        } else if is(b"text/plain") {
            BodyType::Text
        } else if is(b"text/html") {
            BodyType::Html
        } else {
            BodyType::Other
        }
    }
}

/// `Retry-After`: a delay, or an absolute time (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RetryAfter {
    /// `Retry-After: <seconds>` (saturated at `u32::MAX`).
    Seconds(u32),
    /// `Retry-After: <HTTP-date>`, as Unix seconds.
    At(u64),
}

/// Datadog's `X-RateLimit-*` headers (each `None` when absent or malformed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RateLimit {
    /// `X-RateLimit-Limit`: requests allowed per period.
    pub limit: Option<u32>,
    /// `X-RateLimit-Period`: period length in seconds.
    pub period: Option<u32>,
    /// `X-RateLimit-Remaining`: requests left in the current period.
    pub remaining: Option<u32>,
    /// `X-RateLimit-Reset`: seconds until the period resets.
    pub reset: Option<u32>,
    name: Option<InlineStr<RATE_LIMIT_NAME_MAX_LEN>>,
}

impl RateLimit {
    /// `X-RateLimit-Name`, the limit's name for increase requests (visible ASCII, ≤ 64 bytes).
    pub fn name(&self) -> Option<&str> {
        self.name.as_ref().map(InlineStr::as_str)
    }
}

/// The response headers ddlink acts on, gathered without borrowing the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ResponseHeaders {
    /// `Date`, as Unix seconds (IMF-fixdate only, see [`parse_http_date`]).
    pub date: Option<u64>,
    /// `Content-Type`, reduced to what matters for reading the body.
    pub body_type: Option<BodyType>,
    /// `Content-Length`.
    pub content_length: Option<u64>,
    /// `Retry-After`.
    pub retry_after: Option<RetryAfter>,
    /// `X-RateLimit-*`.
    pub rate_limit: RateLimit,
    /// `Connection: close`: the server closes the connection after this response.
    pub connection_close: bool,
}

impl ResponseHeaders {
    /// Records one header (later duplicates win); unknown names are ignored.
    pub fn observe(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        let name = name.as_ref();
        let value = value.as_ref().trim_ascii();
        let is = |known: &[u8]| name.eq_ignore_ascii_case(known);
        if is(b"date") {
            self.date = parse_http_date(value);
        } else if is(b"content-type") {
            self.body_type = Some(BodyType::from_header(value));
        } else if is(b"content-length") {
            self.content_length = parse_decimal(value);
        } else if is(b"retry-after") {
            self.retry_after = parse_decimal(value)
                .map(|seconds| RetryAfter::Seconds(saturate_u32(seconds)))
                .or_else(|| parse_http_date(value).map(RetryAfter::At));
        } else if is(b"connection") {
            self.connection_close = value
                .split(|&byte| byte == b',')
                .any(|option| option.trim_ascii().eq_ignore_ascii_case(b"close"));
        } else if is(b"x-ratelimit-limit") {
            self.rate_limit.limit = parse_decimal(value).map(saturate_u32);
        } else if is(b"x-ratelimit-period") {
            self.rate_limit.period = parse_decimal(value).map(saturate_u32);
        } else if is(b"x-ratelimit-remaining") {
            self.rate_limit.remaining = parse_decimal(value).map(saturate_u32);
        } else if is(b"x-ratelimit-reset") {
            self.rate_limit.reset = parse_decimal(value).map(saturate_u32);
        } else if is(b"x-ratelimit-name") {
            self.rate_limit.name = value
                .iter()
                .all(u8::is_ascii_graphic)
                .then(|| core::str::from_utf8(value).ok())
                .flatten()
                .filter(|text| !text.is_empty())
                .and_then(InlineStr::from_ascii);
        }
    }

    /// `Retry-After` as a delay in seconds from this response: an absolute `Retry-After` needs the
    /// response's `Date` (a device clock may not be synced yet); a time in the past gives 0.
    pub fn retry_after_seconds(&self) -> Option<u32> {
        match self.retry_after? {
            RetryAfter::Seconds(seconds) => Some(seconds),
            RetryAfter::At(at) => Some(saturate_u32(at.saturating_sub(self.date?))),
        }
    }
}

/// A parsed response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResponseHead {
    /// Status code, 100–599.
    pub status: u16,
    /// The headers ddlink acts on.
    pub headers: ResponseHeaders,
}

/// Why a response head could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ResponseError {
    /// No empty line yet: read more bytes and parse again.
    Incomplete,
    /// The first line is not `HTTP/1.x NNN [reason]` with a status in 100–599.
    InvalidStatusLine,
    /// A header line without a `:`, with an empty or non-token name, or an obsolete folded line.
    InvalidHeaderLine,
}

impl ResponseError {
    /// A short, fixed description.
    pub const fn as_str(self) -> &'static str {
        match self {
            ResponseError::Incomplete => "response head incomplete",
            ResponseError::InvalidStatusLine => "invalid status line",
            ResponseError::InvalidHeaderLine => "invalid header line",
        }
    }
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::error::Error for ResponseError {}

impl ResponseHead {
    /// Parses a head from the start of `buffer`, returning it and the number of bytes it took
    /// (the body starts there). Lines end in CRLF or a bare LF.
    pub fn parse(buffer: &[u8]) -> Result<(ResponseHead, usize), ResponseError> {
        let mut lines = Lines {
            rest: buffer,
            consumed: 0,
        };
        let status_line = lines.next().ok_or(ResponseError::Incomplete)?;
        let status = parse_status_line(status_line)?;
        let mut headers = ResponseHeaders::default();
        loop {
            let line = lines.next().ok_or(ResponseError::Incomplete)?;
            if line.is_empty() {
                return Ok((ResponseHead { status, headers }, lines.consumed));
            }
            let (name, value) = split_header_line(line)?;
            headers.observe(name, value);
        }
    }
}

/// Parses `HTTP/1.x NNN[ reason]` into the status code.
pub fn parse_status_line(line: &[u8]) -> Result<u16, ResponseError> {
    let invalid = ResponseError::InvalidStatusLine;
    let version = line.get(..8).ok_or(invalid)?;
    let version_ok =
        version.get(..7) == Some(b"HTTP/1.") && version.get(7).is_some_and(u8::is_ascii_digit);
    if !version_ok || line.get(8) != Some(&b' ') {
        return Err(invalid);
    }
    let code = line.get(9..12).ok_or(invalid)?;
    if !code.iter().all(u8::is_ascii_digit) {
        return Err(invalid);
    }
    let status = code
        .iter()
        .fold(0u16, |acc, &digit| acc * 10 + u16::from(digit - b'0'));
    let reason_ok = match line.get(12..) {
        None | Some([]) => true,
        Some([b' ', reason @ ..]) => reason
            .iter()
            .all(|&byte| byte == b'\t' || byte == b' ' || byte.is_ascii_graphic() || byte >= 0x80),
        Some(_) => false,
    };
    if !(100..=599).contains(&status) || !reason_ok {
        return Err(invalid);
    }
    Ok(status)
}

/// Iterates over lines ending in LF (an optional CR before it is dropped).
struct Lines<'a> {
    rest: &'a [u8],
    consumed: usize,
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let end = self.rest.iter().position(|&byte| byte == b'\n')?;
        let (line, rest) = self.rest.split_at_checked(end)?;
        self.rest = rest.get(1..)?;
        self.consumed = self.consumed.saturating_add(end).saturating_add(1);
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    }
}

fn split_header_line(line: &[u8]) -> Result<(&[u8], &[u8]), ResponseError> {
    let colon = line
        .iter()
        .position(|&byte| byte == b':')
        .ok_or(ResponseError::InvalidHeaderLine)?;
    let (name, value) = line
        .split_at_checked(colon)
        .ok_or(ResponseError::InvalidHeaderLine)?;
    let value = value.get(1..).unwrap_or(&[]);
    if name.is_empty() || !name.iter().copied().all(is_token_byte) {
        // Also catches obsolete line folding (a line starting with whitespace).
        return Err(ResponseError::InvalidHeaderLine);
    }
    Ok((name, value))
}

/// RFC 9110 `tchar`.
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// Non-empty ASCII decimal digits, saturating at `u64::MAX`.
fn parse_decimal(text: &[u8]) -> Option<u64> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(text.iter().fold(0u64, |acc, &digit| {
        acc.saturating_mul(10)
            .saturating_add(u64::from(digit - b'0'))
    }))
}

fn saturate_u32(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

fn starts_with_ignore_case(text: &[u8], prefix: &[u8]) -> bool {
    text.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}
