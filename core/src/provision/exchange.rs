//! The device's two requests and the typed reading of the gateway's answers.

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::ProvisionError;
use super::crypto::{
    CHALLENGE_LEN, DEVICE_NONCE_LEN, ExchangeSecrets, MAC_LEN, MacInput, SEAL_NONCE_LEN,
    SEALED_KEY_MAX_LEN, SealedClaims, open_sealed_key, provision_mac,
};
use super::names::{NAME_MAX_LEN, validate_device_id, validate_fleet};
use super::report::{LAST_ERROR_MAX_LEN, LEASE_MAX_SECS, LEASE_MIN_SECS, LastError};
use super::secrets::{ApiKey, DeviceSecret};
use super::wire::{Cursor, base64_len, decode_exact, decode_into};
use crate::site::{HOST_MAX_LEN, Host, SANDBOX_DOMAIN_MAX_LEN, SandboxPolicy, Site};

/// Path of step 1.
pub const CHALLENGE_PATH: &str = "/v1/provision/challenge";
/// Path of step 2.
pub const PROVISION_PATH: &str = "/v1/provision";

const CHALLENGE_REQUEST_FIXED: usize = r#"{"fleet":"","device_id":""}"#.len();
const PROVISION_REQUEST_FIXED: usize =
    r#"{"fleet":"","device_id":"","challenge":"","device_nonce":"","mac":""}"#.len();
/// `,"last_error":""` around the value, when the request carries one.
const LAST_ERROR_FIELD: usize = r#","last_error":"""#.len();

/// Largest step-1 request body (both names 64 bytes): size the buffer with this.
pub const CHALLENGE_REQUEST_MAX_LEN: usize = CHALLENGE_REQUEST_FIXED + 2 * NAME_MAX_LEN;
/// Largest step-2 request body: size the buffer with this.
pub const PROVISION_REQUEST_MAX_LEN: usize = PROVISION_REQUEST_FIXED
    + 2 * NAME_MAX_LEN
    + base64_len(CHALLENGE_LEN)
    + base64_len(DEVICE_NONCE_LEN)
    + base64_len(MAC_LEN)
    + LAST_ERROR_FIELD
    + LAST_ERROR_MAX_LEN;

/// Longest response body the parsers look at. Anything longer is
/// [`ProvisionError::MalformedBody`] (a v1 approval is about 400 bytes).
pub const RESPONSE_MAX_LEN: usize = 1024;

/// The longest wait a `429 rate_limited` answer can impose, in seconds (1 hour): larger
/// `retry_after` values are clamped to it. The answer is not authenticated, so whoever can
/// inject one packet could otherwise stop a device from provisioning for `u32::MAX` seconds
/// (136 years). The ddlink gateway asks for at most its one-minute window.
pub const RETRY_AFTER_MAX_SECS: u32 = 3_600;

/// Longest string value (after unescaping) accepted in a response; longer is malformed.
const TEXT_MAX_LEN: usize = 128;
/// Scratch space `serde-json-core` unescapes one string into.
const UNESCAPE_SCRATCH_LEN: usize = TEXT_MAX_LEN;

/// Who the device is: fleet, `device_id` and the secret flashed at the factory. Built once at
/// boot; both names are validated here so nothing later can fail on them.
#[derive(Debug, Clone, Copy)]
pub struct DeviceIdentity<'a> {
    fleet: &'a str,
    device_id: &'a str,
    secret: &'a DeviceSecret,
}

impl<'a> DeviceIdentity<'a> {
    /// Validates both names (`[a-z0-9._-]{1,64}`).
    pub fn new(
        fleet: &'a str,
        device_id: &'a str,
        secret: &'a DeviceSecret,
    ) -> Result<Self, ProvisionError> {
        validate_fleet(fleet)?;
        validate_device_id(device_id)?;
        Ok(Self {
            fleet,
            device_id,
            secret,
        })
    }

    /// The fleet name.
    pub fn fleet(&self) -> &'a str {
        self.fleet
    }

    /// The device id.
    pub fn device_id(&self) -> &'a str {
        self.device_id
    }

    /// Writes the step-1 body `{"fleet":…,"device_id":…}` into `out` and returns its length
    /// (at most [`CHALLENGE_REQUEST_MAX_LEN`]). On `BufferTooSmall` nothing was written.
    pub fn write_challenge_request(&self, out: &mut [u8]) -> Result<usize, ProvisionError> {
        let total = CHALLENGE_REQUEST_FIXED + self.fleet.len() + self.device_id.len();
        let out = out.get_mut(..total).ok_or(ProvisionError::BufferTooSmall)?;
        let mut cursor = Cursor::new(out);
        // The name alphabet needs no JSON escaping (see `names`).
        cursor.put(br#"{"fleet":""#)?;
        cursor.put(self.fleet.as_bytes())?;
        cursor.put(br#"","device_id":""#)?;
        cursor.put(self.device_id.as_bytes())?;
        cursor.put(br#""}"#)?;
        Ok(total)
    }
}

/// A fresh challenge from step 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Challenge {
    bytes: [u8; CHALLENGE_LEN],
    expires_in_secs: u32,
}

impl Challenge {
    /// A challenge from its raw bytes (tests and custom transports; devices normally get one
    /// from [`read_challenge_response`]).
    pub const fn from_bytes(bytes: [u8; CHALLENGE_LEN], expires_in_secs: u32) -> Self {
        Self {
            bytes,
            expires_in_secs,
        }
    }

    /// The 32 raw challenge bytes.
    pub fn as_bytes(&self) -> &[u8; CHALLENGE_LEN] {
        &self.bytes
    }

    /// Seconds the gateway will accept it for (60 in v1); step 2 should follow at once.
    pub fn expires_in_secs(&self) -> u32 {
        self.expires_in_secs
    }
}

/// The gateway's answer to step 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeReply {
    /// 200: go on with [`ProvisionExchange::new`].
    Issued(Challenge),
    /// 404 `{"status":"unknown_fleet"}`: the gateway has no such fleet (a flashing mistake or a
    /// fleet not created yet). Retry rarely.
    UnknownFleet,
    /// 429 `{"status":"rate_limited","retry_after":S}`: wait `retry_after_secs` before trying
    /// again.
    RateLimited {
        /// Seconds to wait: `S`, at most [`RETRY_AFTER_MAX_SECS`].
        retry_after_secs: u32,
    },
}

/// Reads the step-1 answer from its HTTP status code and body.
pub fn read_challenge_response(status: u16, body: &[u8]) -> Result<ChallengeReply, ProvisionError> {
    let fields = ResponseFields::parse(body)?;
    match (status, fields.status.as_str()) {
        (200, "") => {
            let challenge = fields.challenge.ok_or(ProvisionError::MalformedBody)?;
            let expires_in_secs = fields.expires_in.ok_or(ProvisionError::MalformedBody)?;
            Ok(ChallengeReply::Issued(Challenge {
                bytes: decode_exact(challenge.as_str())?,
                expires_in_secs,
            }))
        }
        (404, "unknown_fleet") => Ok(ChallengeReply::UnknownFleet),
        (429, "rate_limited") => Ok(ChallengeReply::RateLimited {
            retry_after_secs: fields.clamped_retry_after()?,
        }),
        (200 | 404 | 429, _) => Err(ProvisionError::StatusMismatch),
        (other, _) => Err(ProvisionError::UnexpectedHttpStatus(other)),
    }
}

/// What an approved device received, authenticated by the seal.
#[derive(Debug)]
pub struct Provisioned {
    /// The Datadog API key for `DD-API-KEY`.
    pub api_key: ApiKey,
    /// The key's version: re-provision when a later exchange reports a different one.
    pub key_version: u32,
    /// The Datadog site the key belongs to.
    pub site: Site,
    /// `api.<domain>`: metrics, events, service checks.
    pub api_host: Host,
    /// `http-intake.logs.<domain>`: logs.
    pub logs_host: Host,
    /// Gateway wall clock, seconds since the Unix epoch, as of the answer (a trusted time
    /// source for `clock`: a replayed answer cannot authenticate, see the module docs).
    pub server_time: u64,
    /// Seconds the key may be used from the answer on, [`LEASE_MIN_SECS`]–[`LEASE_MAX_SECS`]:
    /// renew well before (at about 80 %), and stop submitting when it ends without a renewal.
    pub lease_secs: u32,
}

/// The gateway's answer to step 2.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "no allocator to box into; an outcome is matched once and dropped"
)]
pub enum ProvisionOutcome {
    /// 200 `{"status":"approved",…}`: the key opened and every claim checked out.
    Approved(Provisioned),
    /// 202 `{"status":"pending"}`: an admin has not approved this device yet.
    Pending,
    /// 403 `{"status":"revoked"}`: an admin revoked this device.
    Revoked,
    /// 409 `{"status":"not_connected"}`: the gateway has no Datadog connection (or its key
    /// was lost) yet.
    NotConnected,
    /// 401 `{"status":"unauthorized"}`: wrong MAC (wrong secret or fleet), or the challenge
    /// was unknown, used, expired or issued to another device. Start again at step 1.
    Unauthorized,
    /// 429 `{"status":"rate_limited","retry_after":S}`.
    RateLimited {
        /// Seconds to wait: `S`, at most [`RETRY_AFTER_MAX_SECS`].
        retry_after_secs: u32,
    },
}

/// One provisioning attempt: a challenge plus the device's fresh nonce.
///
/// The nonce **must** come from a good random source and must not be reused: it is what makes
/// the sealing key of this exchange unique to it, so that an old answer cannot be replayed.
#[derive(Debug)]
pub struct ProvisionExchange<'a> {
    identity: DeviceIdentity<'a>,
    challenge: [u8; CHALLENGE_LEN],
    device_nonce: [u8; DEVICE_NONCE_LEN],
    last_error: Option<LastError>,
}

impl<'a> ProvisionExchange<'a> {
    /// Starts step 2 for `challenge` (from [`ChallengeReply::Issued`]) with a fresh random
    /// `device_nonce`.
    pub fn new(
        identity: DeviceIdentity<'a>,
        challenge: &Challenge,
        device_nonce: [u8; DEVICE_NONCE_LEN],
    ) -> Self {
        Self {
            identity,
            challenge: challenge.bytes,
            device_nonce,
            last_error: None,
        }
    }

    /// Reports why the device provisions again (`"last_error"` in the request, covered by the
    /// MAC), e.g. [`LastError::Forbidden`] after Datadog refused its key.
    #[must_use]
    pub fn with_last_error(mut self, last_error: LastError) -> Self {
        self.last_error = Some(last_error);
        self
    }

    fn secrets(&self) -> ExchangeSecrets<'_> {
        ExchangeSecrets {
            secret: self.identity.secret,
            challenge: &self.challenge,
            device_nonce: &self.device_nonce,
        }
    }

    /// Writes the step-2 body
    /// `{"fleet","device_id","challenge","device_nonce"[,"last_error"],"mac"}` (binary fields
    /// in padded standard base64) and returns its length (at most
    /// [`PROVISION_REQUEST_MAX_LEN`]). On `BufferTooSmall` nothing was written.
    pub fn write_request(&self, out: &mut [u8]) -> Result<usize, ProvisionError> {
        let identity = &self.identity;
        let report_len = self
            .last_error
            .map_or(0, |last_error| LAST_ERROR_FIELD + last_error.as_str().len());
        let total = PROVISION_REQUEST_FIXED
            + identity.fleet.len()
            + identity.device_id.len()
            + base64_len(CHALLENGE_LEN)
            + base64_len(DEVICE_NONCE_LEN)
            + base64_len(MAC_LEN)
            + report_len;
        let out = out.get_mut(..total).ok_or(ProvisionError::BufferTooSmall)?;
        let mac = provision_mac(
            identity.secret,
            &MacInput {
                challenge: &self.challenge,
                device_nonce: &self.device_nonce,
                device_id: identity.device_id,
                last_error: self.last_error,
            },
        );
        let mut cursor = Cursor::new(out);
        cursor.put(br#"{"fleet":""#)?;
        cursor.put(identity.fleet.as_bytes())?;
        cursor.put(br#"","device_id":""#)?;
        cursor.put(identity.device_id.as_bytes())?;
        cursor.put(br#"","challenge":""#)?;
        cursor.put_base64(&self.challenge)?;
        cursor.put(br#"","device_nonce":""#)?;
        cursor.put_base64(&self.device_nonce)?;
        if let Some(last_error) = self.last_error {
            cursor.put(br#"","last_error":""#)?;
            cursor.put(last_error.as_str().as_bytes())?;
        }
        cursor.put(br#"","mac":""#)?;
        cursor.put_base64(&mac)?;
        cursor.put(br#""}"#)?;
        Ok(total)
    }

    /// Reads the step-2 answer. The HTTP status and the body's `"status"` must agree (see the
    /// table in the module docs). For an approval, `site` is parsed under `sandbox` (a device
    /// in the field passes [`SandboxPolicy::Deny`]), the hosts must be the ones derived from
    /// the site, and the sealed key must authenticate under this exchange's key with the
    /// claims as associated data; otherwise the result is an error and no key exists.
    pub fn read_response(
        &self,
        status: u16,
        body: &[u8],
        sandbox: SandboxPolicy,
    ) -> Result<ProvisionOutcome, ProvisionError> {
        let fields = ResponseFields::parse(body)?;
        let outcome = match (status, fields.status.as_str()) {
            (200, "approved") => ProvisionOutcome::Approved(self.open(&fields, sandbox)?),
            (202, "pending") => ProvisionOutcome::Pending,
            (403, "revoked") => ProvisionOutcome::Revoked,
            (409, "not_connected") => ProvisionOutcome::NotConnected,
            (401, "unauthorized") => ProvisionOutcome::Unauthorized,
            (429, "rate_limited") => ProvisionOutcome::RateLimited {
                retry_after_secs: fields.clamped_retry_after()?,
            },
            (200 | 202 | 401 | 403 | 409 | 429, _) => return Err(ProvisionError::StatusMismatch),
            (other, _) => return Err(ProvisionError::UnexpectedHttpStatus(other)),
        };
        Ok(outcome)
    }

    fn open(
        &self,
        fields: &ResponseFields,
        sandbox: SandboxPolicy,
    ) -> Result<Provisioned, ProvisionError> {
        let required = |field: &Option<Text>| -> Result<Text, ProvisionError> {
            field.ok_or(ProvisionError::MalformedBody)
        };
        let key_version = fields.key_version.ok_or(ProvisionError::MalformedBody)?;
        let server_time = fields.server_time.ok_or(ProvisionError::MalformedBody)?;
        let lease_secs = fields.lease_secs.ok_or(ProvisionError::MalformedBody)?;
        if !(LEASE_MIN_SECS..=LEASE_MAX_SECS).contains(&lease_secs) {
            return Err(ProvisionError::InvalidLease);
        }
        let site = parse_site(required(&fields.site)?.as_str(), sandbox)?;
        let api_host = site.api_host();
        let logs_host = site.logs_host();
        if api_host != required(&fields.api_host)?.as_str()
            || logs_host != required(&fields.logs_host)?.as_str()
        {
            return Err(ProvisionError::HostMismatch);
        }
        let nonce: [u8; SEAL_NONCE_LEN] = decode_exact(required(&fields.nonce)?.as_str())?;
        let mut sealed = [0u8; SEALED_KEY_MAX_LEN];
        let sealed_len = decode_into(required(&fields.sealed_key)?.as_str(), &mut sealed)?;
        let sealed = sealed
            .get(..sealed_len)
            .ok_or(ProvisionError::InvalidEncoding)?;
        let claims = SealedClaims {
            device_id: self.identity.device_id,
            key_version,
            site,
            server_time,
            lease_secs,
        };
        let api_key = open_sealed_key(&self.secrets(), &claims, &nonce, sealed)?;
        Ok(Provisioned {
            api_key,
            key_version,
            site,
            api_host,
            logs_host,
            server_time,
            lease_secs,
        })
    }
}

/// The site of an approval: one of the nine domains, or a sandbox domain only under
/// [`SandboxPolicy::Allow`].
fn parse_site(domain: &str, sandbox: SandboxPolicy) -> Result<Site, ProvisionError> {
    // Both constructors accept any letter case; the claims bind the canonical (lower-case)
    // spelling, which is all the gateway ever sends, so only that is accepted.
    let site = match Site::from_domain(domain) {
        Ok(site) => site,
        Err(_) => match (Site::sandbox(domain), sandbox) {
            (Ok(site), SandboxPolicy::Allow) => site,
            (Ok(_), SandboxPolicy::Deny) => return Err(ProvisionError::SandboxNotAllowed),
            (Err(_), _) => return Err(ProvisionError::InvalidSite),
        },
    };
    if site.domain() == domain {
        Ok(site)
    } else {
        Err(ProvisionError::InvalidSite)
    }
}

/// A bounded string field of a response, unescaped.
#[derive(Clone, Copy)]
struct Text {
    bytes: [u8; TEXT_MAX_LEN],
    len: usize,
}

impl Text {
    const EMPTY: Text = Text {
        bytes: [0; TEXT_MAX_LEN],
        len: 0,
    };

    fn as_str(&self) -> &str {
        self.bytes
            .get(..self.len)
            .and_then(|bytes| core::str::from_utf8(bytes).ok())
            .unwrap_or("")
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;

        impl Visitor<'_> for TextVisitor {
            type Value = Text;

            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("a string of at most 128 bytes")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Text, E> {
                let mut text = Text::EMPTY;
                text.bytes
                    .get_mut(..value.len())
                    .ok_or_else(|| E::invalid_length(value.len(), &self))?
                    .copy_from_slice(value.as_bytes());
                text.len = value.len();
                Ok(text)
            }
        }

        deserializer.deserialize_str(TextVisitor)
    }
}

/// Every field either endpoint may answer with; unknown fields are ignored (forward
/// compatibility), duplicates are malformed.
#[derive(serde_derive::Deserialize)]
struct ResponseFields {
    #[serde(default = "no_status")]
    status: Text,
    challenge: Option<Text>,
    expires_in: Option<u32>,
    retry_after: Option<u32>,
    key_version: Option<u32>,
    site: Option<Text>,
    api_host: Option<Text>,
    logs_host: Option<Text>,
    server_time: Option<u64>,
    lease_secs: Option<u32>,
    nonce: Option<Text>,
    sealed_key: Option<Text>,
}

fn no_status() -> Text {
    Text::EMPTY
}

// Sanity links between limits defined in different modules.
const _: () = assert!(SANDBOX_DOMAIN_MAX_LEN <= TEXT_MAX_LEN && HOST_MAX_LEN <= TEXT_MAX_LEN);
const _: () = assert!(base64_len(SEALED_KEY_MAX_LEN) <= TEXT_MAX_LEN);

impl ResponseFields {
    /// `retry_after`, required, clamped to [`RETRY_AFTER_MAX_SECS`] (it is unauthenticated).
    fn clamped_retry_after(&self) -> Result<u32, ProvisionError> {
        let requested = self.retry_after.ok_or(ProvisionError::MalformedBody)?;
        Ok(requested.min(RETRY_AFTER_MAX_SECS))
    }

    /// Parses a JSON object whose values nest at most one level (an ignored field may hold a
    /// flat array or object). Deeper nesting is refused before the parser runs, so its
    /// recursion stays bounded whatever the input.
    fn parse(body: &[u8]) -> Result<Self, ProvisionError> {
        if body.len() > RESPONSE_MAX_LEN || nesting_depth_exceeds(body, 2) {
            return Err(ProvisionError::MalformedBody);
        }
        let mut scratch = [0u8; UNESCAPE_SCRATCH_LEN];
        match serde_json_core::from_slice_escaped::<ResponseFields>(body, &mut scratch) {
            Ok((fields, _consumed)) => Ok(fields),
            Err(_) => Err(ProvisionError::MalformedBody),
        }
    }
}

/// Whether `[`/`{` nest deeper than `limit` outside string literals.
fn nesting_depth_exceeds(body: &[u8], limit: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in body {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth = depth.saturating_add(1);
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}
