//! Device side of provisioning protocol v1: how a device proves it belongs to a fleet and
//! receives the Datadog API key, site, hosts and a trusted time from its gateway.
//!
//! Sans-I/O: the caller does the two HTTP `POST`s (plain HTTP on the LAN is fine, everything
//! that matters is MAC'd or sealed); this module writes the request bodies into the caller's
//! buffers and turns `(status code, body)` into typed outcomes. No allocation, no panic on any
//! input, and no secret in any `Debug` output or error.
//!
//! # Walk-through (device)
//!
//! ```no_run
//! use ddlink_core::provision::{
//!     ChallengeReply, DeviceIdentity, DeviceSecret, ProvisionExchange, ProvisionOutcome,
//!     CHALLENGE_PATH, CHALLENGE_REQUEST_MAX_LEN, PROVISION_PATH, PROVISION_REQUEST_MAX_LEN,
//!     RESPONSE_MAX_LEN,
//! };
//! use ddlink_core::site::SandboxPolicy;
//! # fn post(_path: &str, _body: &[u8], _response: &mut [u8]) -> (u16, usize) { unimplemented!() }
//! # fn random_bytes() -> [u8; 16] { unimplemented!() }
//!
//! // Flashed at the factory (`ddlink-gateway device-secret --fleet acme --device-id pump-7`).
//! let secret = DeviceSecret::from_hex(
//!     "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
//! )?;
//! let identity = DeviceIdentity::new("acme", "pump-7", &secret)?;
//!
//! // Step 1: POST /v1/provision/challenge
//! let mut request = [0u8; PROVISION_REQUEST_MAX_LEN];
//! let mut response = [0u8; RESPONSE_MAX_LEN];
//! let len = identity.write_challenge_request(&mut request)?;
//! let (status, body_len) = post(CHALLENGE_PATH, &request[..len], &mut response);
//! let ChallengeReply::Issued(challenge) =
//!     ddlink_core::provision::read_challenge_response(status, &response[..body_len])?
//! else {
//!     return Ok(()); // unknown fleet or rate limited: back off, retry later
//! };
//!
//! // Step 2: POST /v1/provision with a fresh random nonce.
//! let exchange = ProvisionExchange::new(identity, &challenge, random_bytes());
//! let len = exchange.write_request(&mut request)?;
//! let (status, body_len) = post(PROVISION_PATH, &request[..len], &mut response);
//! match exchange.read_response(status, &response[..body_len], SandboxPolicy::Deny)? {
//!     ProvisionOutcome::Approved(provisioned) => {
//!         // provisioned.api_key (zeroized on drop), .site, .api_host, .logs_host,
//!         // .key_version, .server_time (trusted: set the clock from it),
//!         // .lease_secs (renew at about 80 %, stop submitting when it ends)
//!     }
//!     ProvisionOutcome::Pending => { /* wait for the admin; poll every minute or so */ }
//!     _ => { /* see the table below */ }
//! }
//! # let _ = CHALLENGE_REQUEST_MAX_LEN;
//! # Ok::<(), ddlink_core::provision::ProvisionError>(())
//! ```
//!
//! Buffers: [`CHALLENGE_REQUEST_MAX_LEN`] (141 B) and [`PROVISION_REQUEST_MAX_LEN`] (360 B) bound
//! the request bodies; answers longer than [`RESPONSE_MAX_LEN`] (1 KiB) are refused. Reading an
//! answer uses about 1.3 KiB of stack.
//!
//! # Outcomes and what a device should do
//!
//! The HTTP status and the body's `"status"` must agree, else [`ProvisionError::StatusMismatch`].
//!
//! | HTTP | body `status` | result | device action |
//! |---|---|---|---|
//! | 200 | (absent) + `challenge`, `expires_in` | [`ChallengeReply::Issued`] | do step 2 now |
//! | 404 | `unknown_fleet` | [`ChallengeReply::UnknownFleet`] | misconfigured: retry rarely (hours) |
//! | 200 | `approved` + claims | [`ProvisionOutcome::Approved`] | use the key, site, hosts; set the clock; renew at ~80 % of `lease_secs` |
//! | 202 | `pending` | [`ProvisionOutcome::Pending`] | poll again later (≈ 1 min), from step 1 |
//! | 401 | `unauthorized` | [`ProvisionOutcome::Unauthorized`] | back off, restart from step 1 |
//! | 403 | `revoked` | [`ProvisionOutcome::Revoked`] | stop sending at once (keep buffering); retry rarely |
//! | 409 | `not_connected` | [`ProvisionOutcome::NotConnected`] | stop sending at once (keep buffering); retry with back-off |
//! | 429 | `rate_limited` + `retry_after` | `RateLimited { retry_after_secs }` | wait that long (at most [`RETRY_AFTER_MAX_SECS`], 1 h) |
//! | other | — | [`ProvisionError::UnexpectedHttpStatus`] | 5xx: back off and retry; 4xx: a bug, report it |
//!
//! Any `Err` from `read_response` (malformed body, failed authentication, host mismatch…) means
//! the answer must be ignored; back off and start again at step 1. Provision at boot, after a
//! 403 from Datadog (reporting it with [`ProvisionExchange::with_last_error`] and
//! [`LastError::Forbidden`], so the gateway checks the key), and at about 80 % of the lease.
//!
//! # Leases
//!
//! An approval carries `lease_secs` ([`LEASE_MIN_SECS`]–[`LEASE_MAX_SECS`], 10 s to 30 days;
//! anything else is [`ProvisionError::InvalidLease`]), bound in the AAD. The key may be used for
//! that long after the answer; a device that has not renewed by then stops submitting (and keeps
//! buffering). That is how a gateway decision (a revoked device, an uninstalled integration, a
//! revoked key) reaches every device within a bounded time without any push channel.
//!
//! # Cryptography (exact, so other implementations can interoperate)
//!
//! Names (`fleet`, `device_id`) are `[a-z0-9._-]{1,64}` (one rule for both, checked by
//! [`validate_fleet`] / [`validate_device_id`]); `‖` is concatenation; binary fields travel as
//! padded standard base64 (RFC 4648 §4), decoded strictly (canonical, exact length).
//!
//! ```text
//! device_secret = HMAC-SHA256(fleet_key, "ddlink/device/v1" ‖ 0x00 ‖ fleet ‖ 0x00 ‖ device_id)
//! challenge     = 32 random bytes (gateway, single use, 60 s)
//! device_nonce  = 16 random bytes (device, fresh per attempt)
//! mac           = HMAC-SHA256(device_secret, "ddlink/provision/v1" ‖ challenge ‖ device_nonce ‖ device_id
//!                             [‖ 0x00 ‖ last_error])     (the suffix only when the request has last_error)
//! k             = HMAC-SHA256(device_secret, "ddlink/seal/v1" ‖ challenge ‖ device_nonce)
//! sealed_key    = ChaCha20-Poly1305(k, nonce(12 random bytes), api_key, aad)   (ciphertext ‖ 16-byte tag)
//! aad           = "ddlink/aad/v1"
//!                 ‖ u16be(len) ‖ device_id
//!                 ‖ u32be(key_version)
//!                 ‖ u16be(len) ‖ site          e.g. "datadoghq.eu"
//!                 ‖ u16be(len) ‖ api_host      e.g. "api.datadoghq.eu"
//!                 ‖ u16be(len) ‖ logs_host     e.g. "http-intake.logs.datadoghq.eu"
//!                 ‖ u64be(server_time)
//!                 ‖ u32be(lease_secs)
//! ```
//!
//! The same functions serve the gateway ([`derive_device_secret`], [`verify_provision_mac`],
//! [`seal_api_key`]), and `core/tests/vectors/provision_v1.json` pins every value, computed
//! independently with Python's `hmac`/`hashlib` and `cryptography` packages.
//!
//! The protocol as a specification, with the test vectors: `docs/PROTOCOL.md` in the repository.
//!
//! # Decisions in this implementation, and why
//!
//! - **Hosts are derived, then bound.** The device derives `api_host`/`logs_host` from `site`
//!   with [`crate::site`] and refuses an answer whose hosts differ
//!   ([`ProvisionError::HostMismatch`]); the AAD binds them as well, so a future protocol
//!   version with non-derived hosts would still be authenticated. `site` must be spelled
//!   canonically (lower case), since that exact text is bound.
//! - **Sandbox sites** (`*.localhost`) are accepted only under [`SandboxPolicy::Allow`](crate::site::SandboxPolicy::Allow); a field
//!   build passes [`SandboxPolicy::Deny`](crate::site::SandboxPolicy::Deny) and gets [`ProvisionError::SandboxNotAllowed`].
//! - **Freshness.** Each exchange has its own sealing key `k` (single-use challenge, fresh
//!   device nonce), so a recorded approval cannot be replayed to a device: it fails
//!   authentication. This is also why `server_time` can set the device clock.
//! - **Unauthenticated statuses.** `pending`, `revoked`, `not_connected`, `unauthorized`,
//!   `rate_limited` are not authenticated: someone on the path can fake them, but that only
//!   delays a device (as dropping packets would); no key, site or time is ever taken from them.
//!   For the same reason a `retry_after` above [`RETRY_AFTER_MAX_SECS`] (1 h) is clamped to it:
//!   one forged 429 can delay a device by an hour at most, not by `u32::MAX` seconds.
//! - **Added statuses.** `429 rate_limited` (with `retry_after`), because the gateway rate-limits
//!   failures, and `404 unknown_fleet` at step 1. The ddlink gateway no longer sends the 404
//!   (it answers unknown fleets like known ones, so fleet names cannot be probed); devices still
//!   read it from any gateway that does.
//!   All 401 causes (bad MAC, unknown/used/expired/foreign challenge) share one answer: no
//!   oracle.
//! - **Parsing.** `serde-json-core` with unescaping (`from_slice_escaped`); unknown fields are
//!   ignored (forward compatibility), duplicate fields, values nested more than one level, strings
//!   longer than 128 bytes and bodies over [`RESPONSE_MAX_LEN`] are malformed. The API key must
//!   be 1–[`API_KEY_MAX_LEN`] printable ASCII bytes (it goes into an HTTP header).
//! - **Always compiled** (no feature): the RustCrypto crates are small, pure Rust and `no_std`,
//!   and every device that uses ddlink provisions.

mod crypto;
mod error;
mod exchange;
mod names;
mod report;
mod secrets;
mod wire;

pub use crypto::{
    AAD_MAX_LEN, CHALLENGE_LEN, DEVICE_NONCE_LEN, ExchangeSecrets, FLEET_KEY_LEN, MAC_LEN,
    MacInput, SEAL_NONCE_LEN, SEAL_TAG_LEN, SEALED_KEY_MAX_LEN, SealedClaims, derive_device_secret,
    open_sealed_key, provision_mac, seal_api_key, verify_provision_mac,
};
pub use error::ProvisionError;
pub use exchange::{
    CHALLENGE_PATH, CHALLENGE_REQUEST_MAX_LEN, Challenge, ChallengeReply, DeviceIdentity,
    PROVISION_PATH, PROVISION_REQUEST_MAX_LEN, ProvisionExchange, ProvisionOutcome, Provisioned,
    RESPONSE_MAX_LEN, RETRY_AFTER_MAX_SECS, read_challenge_response,
};
pub use names::{NAME_MAX_LEN, validate_device_id, validate_fleet};
pub use report::{LAST_ERROR_MAX_LEN, LEASE_MAX_SECS, LEASE_MIN_SECS, LastError};
pub use secrets::{API_KEY_MAX_LEN, ApiKey, DEVICE_SECRET_LEN, DeviceSecret};
