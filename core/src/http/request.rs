//! Request heads for Datadog's intake endpoints, written into a caller's buffer.

use core::fmt;

use crate::site::{Host, Site};

/// `User-Agent` sent unless the caller sets another.
pub const DEFAULT_USER_AGENT: &str = concat!("ddlink-core/", env!("CARGO_PKG_VERSION"));

/// HTTP method of an [`Endpoint`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Method {
    /// `GET`, no body.
    Get,
    /// `POST` with a JSON body.
    Post,
}

impl Method {
    /// The method token.
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// Which of a site's hosts serves an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HostKind {
    /// `api.<domain>`.
    Api,
    /// `http-intake.logs.<domain>`.
    Logs,
}

/// The Datadog endpoints a device talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Endpoint {
    /// `POST /api/v2/series` (JSON).
    SeriesV2,
    /// `POST /api/v1/series`.
    SeriesV1,
    /// `POST /api/v1/distribution_points`.
    DistributionPointsV1,
    /// `POST /api/v1/events`.
    EventsV1,
    /// `POST /api/v2/logs` on the logs intake host.
    LogsV2,
    /// `POST /api/v1/check_run`.
    CheckRunV1,
    /// `GET /api/v1/validate`: checks the API key.
    ValidateV1,
}

impl Endpoint {
    /// Every endpoint.
    pub const ALL: [Endpoint; 7] = [
        Endpoint::SeriesV2,
        Endpoint::SeriesV1,
        Endpoint::DistributionPointsV1,
        Endpoint::EventsV1,
        Endpoint::LogsV2,
        Endpoint::CheckRunV1,
        Endpoint::ValidateV1,
    ];

    /// Request path.
    pub const fn path(self) -> &'static str {
        match self {
            Endpoint::SeriesV2 => "/api/v2/series",
            Endpoint::SeriesV1 => "/api/v1/series",
            Endpoint::DistributionPointsV1 => "/api/v1/distribution_points",
            Endpoint::EventsV1 => "/api/v1/events",
            Endpoint::LogsV2 => "/api/v2/logs",
            Endpoint::CheckRunV1 => "/api/v1/check_run",
            Endpoint::ValidateV1 => "/api/v1/validate",
        }
    }

    /// Request method.
    pub const fn method(self) -> Method {
        match self {
            Endpoint::ValidateV1 => Method::Get,
            _ => Method::Post,
        }
    }

    /// Which host serves it.
    pub const fn host_kind(self) -> HostKind {
        match self {
            Endpoint::LogsV2 => HostKind::Logs,
            _ => HostKind::Api,
        }
    }

    /// Whether Datadog documents `encoding` for this endpoint's body: `deflate` and `gzip` for
    /// series and logs, `deflate` only for distribution points, none for events, service checks
    /// and the (bodiless) validation call.
    pub const fn accepts_encoding(self, encoding: ContentEncoding) -> bool {
        matches!(
            (self, encoding),
            (_, ContentEncoding::Identity)
                | (
                    Endpoint::SeriesV2 | Endpoint::SeriesV1 | Endpoint::LogsV2,
                    ContentEncoding::Deflate | ContentEncoding::Gzip,
                )
                | (Endpoint::DistributionPointsV1, ContentEncoding::Deflate)
        )
    }

    /// The host serving it on `site`.
    pub fn host(self, site: &Site) -> Host {
        match self.host_kind() {
            HostKind::Api => site.api_host(),
            HostKind::Logs => site.logs_host(),
        }
    }
}

/// `Content-Encoding` of a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ContentEncoding {
    /// Uncompressed (no `Content-Encoding` header).
    Identity,
    /// `deflate`: a zlib stream (RFC 1950), as Datadog expects.
    Deflate,
    /// `gzip` (RFC 1952).
    Gzip,
}

impl ContentEncoding {
    /// The header value, `None` for identity.
    pub const fn header_value(self) -> Option<&'static str> {
        match self {
            ContentEncoding::Identity => None,
            ContentEncoding::Deflate => Some("deflate"),
            ContentEncoding::Gzip => Some("gzip"),
        }
    }
}

/// A header whose value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HeaderField {
    /// `Host`.
    Host,
    /// `DD-API-KEY` (its value is never reported).
    ApiKey,
    /// `User-Agent`.
    UserAgent,
}

/// Why a request head was not written. On error the output buffer is left untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum RequestError {
    /// The buffer is smaller than [`RequestHead::encoded_len`].
    BufferTooSmall,
    /// A header value is empty or holds a byte that could split or corrupt the head (CR, LF,
    /// NUL, other controls, non-ASCII; spaces too, except inside `User-Agent`).
    InvalidHeaderValue(HeaderField),
    /// A body length or encoding was given for a `GET` endpoint.
    BodyNotAllowed,
    /// The endpoint does not accept this `Content-Encoding` (see [`Endpoint::accepts_encoding`]).
    EncodingNotAccepted,
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::BufferTooSmall => f.write_str("buffer too small for request head"),
            RequestError::InvalidHeaderValue(HeaderField::Host) => f.write_str("invalid Host"),
            RequestError::InvalidHeaderValue(HeaderField::ApiKey) => {
                f.write_str("invalid DD-API-KEY")
            }
            RequestError::InvalidHeaderValue(HeaderField::UserAgent) => {
                f.write_str("invalid User-Agent")
            }
            RequestError::BodyNotAllowed => f.write_str("GET request cannot carry a body"),
            RequestError::EncodingNotAccepted => {
                f.write_str("endpoint does not accept this Content-Encoding")
            }
        }
    }
}

impl core::error::Error for RequestError {}

/// An HTTP/1.1 request head for one [`Endpoint`] of a [`Site`].
///
/// The host always comes from the site (never from free text), so a head can only address an
/// allow-listed Datadog (or explicit sandbox) host. `Debug` never prints the API key.
#[derive(Clone, Copy)]
pub struct RequestHead<'a> {
    endpoint: Endpoint,
    site: &'a Site,
    api_key: &'a str,
    content_encoding: ContentEncoding,
    content_length: usize,
    user_agent: &'a str,
}

impl<'a> RequestHead<'a> {
    /// A head without body (length 0, identity) and the default user agent.
    pub fn new(endpoint: Endpoint, site: &'a Site, api_key: &'a str) -> RequestHead<'a> {
        RequestHead {
            endpoint,
            site,
            api_key,
            content_encoding: ContentEncoding::Identity,
            content_length: 0,
            user_agent: DEFAULT_USER_AGENT,
        }
    }

    /// Sets the body's encoding and its length in bytes as sent (after compression).
    pub fn with_body(self, encoding: ContentEncoding, length: usize) -> RequestHead<'a> {
        RequestHead {
            content_encoding: encoding,
            content_length: length,
            ..self
        }
    }

    /// Sets the `User-Agent`.
    pub fn with_user_agent(self, user_agent: &'a str) -> RequestHead<'a> {
        RequestHead { user_agent, ..self }
    }

    /// The endpoint.
    pub fn endpoint(&self) -> Endpoint {
        self.endpoint
    }

    /// The `Host` the head addresses (connect to [`Host::name`], port 443 unless [`Host::port`]).
    pub fn host(&self) -> Host {
        self.endpoint.host(self.site)
    }

    /// Checks every value without writing anything.
    pub fn validate(&self) -> Result<(), RequestError> {
        let host = self.host();
        if !is_token_value(host.as_str()) {
            return Err(RequestError::InvalidHeaderValue(HeaderField::Host));
        }
        if !is_token_value(self.api_key) {
            return Err(RequestError::InvalidHeaderValue(HeaderField::ApiKey));
        }
        if !is_text_value(self.user_agent) {
            return Err(RequestError::InvalidHeaderValue(HeaderField::UserAgent));
        }
        let has_body =
            self.content_length != 0 || self.content_encoding != ContentEncoding::Identity;
        if self.endpoint.method() == Method::Get && has_body {
            return Err(RequestError::BodyNotAllowed);
        }
        if !self.endpoint.accepts_encoding(self.content_encoding) {
            return Err(RequestError::EncodingNotAccepted);
        }
        Ok(())
    }

    /// Exact number of bytes [`RequestHead::write`] needs.
    pub fn encoded_len(&self) -> Result<usize, RequestError> {
        self.validate()?;
        let mut total = 0usize;
        self.emit(&mut |piece| total = total.saturating_add(piece.len()));
        Ok(total)
    }

    /// Writes the head (ending in the blank line) to the start of `out` and returns its length.
    /// Validates first: on any error nothing is written.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, RequestError> {
        let needed = self.encoded_len()?;
        let target = out.get_mut(..needed).ok_or(RequestError::BufferTooSmall)?;
        let mut written = 0usize;
        self.emit(&mut |piece| {
            let end = written.saturating_add(piece.len());
            if let Some(slot) = target.get_mut(written..end) {
                slot.copy_from_slice(piece);
            }
            written = end;
        });
        Ok(written)
    }

    /// Feeds the head to `sink` piece by piece; `write` and `encoded_len` share it so the length
    /// is exact by construction.
    fn emit(&self, sink: &mut dyn FnMut(&[u8])) {
        let host = self.host();
        let method = self.endpoint.method();
        sink(method.as_str().as_bytes());
        sink(b" ");
        sink(self.endpoint.path().as_bytes());
        sink(b" HTTP/1.1\r\n");
        let mut header = |name: &str, value: &[u8]| {
            sink(name.as_bytes());
            sink(b": ");
            sink(value);
            sink(b"\r\n");
        };
        header("Host", host.as_bytes());
        header("DD-API-KEY", self.api_key.as_bytes());
        if method == Method::Post {
            header("Content-Type", b"application/json");
            if let Some(encoding) = self.content_encoding.header_value() {
                header("Content-Encoding", encoding.as_bytes());
            }
            let mut digits = [0u8; 20];
            header(
                "Content-Length",
                format_decimal(self.content_length, &mut digits),
            );
        }
        header("Accept", b"application/json");
        header("User-Agent", self.user_agent.as_bytes());
        sink(b"\r\n");
    }
}

impl fmt::Debug for RequestHead<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestHead")
            .field("endpoint", &self.endpoint)
            .field("host", &self.host())
            .field("api_key", &"<redacted>")
            .field("content_encoding", &self.content_encoding)
            .field("content_length", &self.content_length)
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

/// Non-empty, visible ASCII only (no spaces): host names and API keys.
fn is_token_value(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_graphic())
}

/// Non-empty visible ASCII with inner spaces or tabs (RFC 9110 field-value without obs-text).
fn is_text_value(value: &str) -> bool {
    let bytes = value.as_bytes();
    let edges_visible = bytes.first().is_some_and(u8::is_ascii_graphic)
        && bytes.last().is_some_and(u8::is_ascii_graphic);
    edges_visible
        && bytes
            .iter()
            .all(|&byte| byte.is_ascii_graphic() || byte == b' ' || byte == b'\t')
}

/// Writes `value` in decimal at the end of `digits` and returns the used tail.
fn format_decimal(mut value: usize, digits: &mut [u8; 20]) -> &[u8] {
    let mut start = digits.len();
    loop {
        start -= 1;
        if let Some(slot) = digits.get_mut(start) {
            // `value % 10` is below 10, so the cast cannot truncate.
            *slot = b'0' + (value % 10) as u8;
        }
        value /= 10;
        if value == 0 || start == 0 {
            break;
        }
    }
    digits.get(start..).unwrap_or(&[])
}
