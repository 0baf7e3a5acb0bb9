//! Fixed-size holders for the two secrets a device handles. Both wipe themselves on drop and
//! print `<redacted>` under `Debug`; neither is `Clone`, so copies are explicit.
//!
//! A Rust move is a bitwise copy that does not wipe the place moved from: keep a holder in one
//! place (a `static` cell or a long-lived task) rather than passing it around by value.

use core::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

use super::ProvisionError;

/// Length of a device secret (an HMAC-SHA256 output), in bytes.
pub const DEVICE_SECRET_LEN: usize = 32;

/// Longest API key a sealed response may carry, in bytes (Datadog's are 32 hex digits).
pub const API_KEY_MAX_LEN: usize = 64;

/// The per-device secret flashed at the factory:
/// `HMAC-SHA256(fleet_key, "ddlink/device/v1" ‖ 0x00 ‖ fleet ‖ 0x00 ‖ device_id)`.
pub struct DeviceSecret([u8; DEVICE_SECRET_LEN]);

impl DeviceSecret {
    /// Wraps raw secret bytes (e.g. read from protected flash). The caller should wipe its copy.
    pub const fn from_bytes(bytes: [u8; DEVICE_SECRET_LEN]) -> Self {
        Self(bytes)
    }

    /// Parses the 64 hex digits printed by `ddlink-gateway device-secret` (either case).
    pub fn from_hex(hex: &str) -> Result<Self, ProvisionError> {
        let digits = hex.as_bytes();
        if digits.len() != 2 * DEVICE_SECRET_LEN {
            return Err(ProvisionError::InvalidSecretHex);
        }
        let mut secret = Self([0; DEVICE_SECRET_LEN]);
        for (byte, pair) in secret.0.iter_mut().zip(digits.chunks_exact(2)) {
            let (Some(high), Some(low)) = (
                pair.first().copied().and_then(hex_value),
                pair.get(1).copied().and_then(hex_value),
            ) else {
                // `secret` is wiped by its Drop on this early return.
                return Err(ProvisionError::InvalidSecretHex);
            };
            *byte = (high << 4) | low;
        }
        Ok(secret)
    }

    /// The raw bytes, for the HMAC computations and for the factory tool that prints them.
    pub fn expose_secret(&self) -> &[u8; DEVICE_SECRET_LEN] {
        &self.0
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

impl Drop for DeviceSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for DeviceSecret {}

impl fmt::Debug for DeviceSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeviceSecret(<redacted>)")
    }
}

/// A Datadog API key received from the gateway: 1–[`API_KEY_MAX_LEN`] bytes of printable ASCII
/// (`!`–`~`), ready for the `DD-API-KEY` header.
pub struct ApiKey {
    bytes: [u8; API_KEY_MAX_LEN],
    len: u8,
}

impl ApiKey {
    /// Checks and copies `key` (used by the gateway side and tests; devices get keys from
    /// [`ProvisionExchange::read_response`](super::ProvisionExchange::read_response)).
    pub fn new(key: &str) -> Result<Self, ProvisionError> {
        let mut holder = Self::empty();
        let slot = holder
            .bytes
            .get_mut(..key.len())
            .ok_or(ProvisionError::InvalidApiKey)?;
        slot.copy_from_slice(key.as_bytes());
        holder.set_len(key.len())?;
        Ok(holder)
    }

    pub(super) const fn empty() -> Self {
        Self {
            bytes: [0; API_KEY_MAX_LEN],
            len: 0,
        }
    }

    /// The whole buffer, for in-place decryption.
    pub(super) fn buffer_mut(&mut self) -> &mut [u8; API_KEY_MAX_LEN] {
        &mut self.bytes
    }

    /// Accepts the first `len` bytes of the buffer as the key if they are a valid header value.
    pub(super) fn set_len(&mut self, len: usize) -> Result<(), ProvisionError> {
        let valid = self
            .bytes
            .get(..len)
            .is_some_and(|key| !key.is_empty() && key.iter().all(u8::is_ascii_graphic));
        match (valid, u8::try_from(len)) {
            (true, Ok(len)) => {
                self.len = len;
                Ok(())
            }
            _ => {
                self.bytes.zeroize();
                self.len = 0;
                Err(ProvisionError::InvalidApiKey)
            }
        }
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        let key = self.bytes.get(..usize::from(self.len)).unwrap_or(&[]);
        // Only printable ASCII is ever accepted by `set_len`, so this never falls back.
        core::str::from_utf8(key).unwrap_or("")
    }

    /// The key as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.as_str().as_bytes()
    }
}

impl Drop for ApiKey {
    fn drop(&mut self) {
        self.bytes.zeroize();
        self.len = 0;
    }
}

impl ZeroizeOnDrop for ApiKey {}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}
