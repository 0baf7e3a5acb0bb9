//! Helpers shared by the provisioning tests: the JSON vectors and a stand-in gateway built from
//! the gateway-side functions of `ddlink_core::provision`.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ddlink_core::provision::{
    ApiKey, CHALLENGE_LEN, Challenge, DEVICE_NONCE_LEN, DeviceSecret, ExchangeSecrets,
    SEAL_NONCE_LEN, SEALED_KEY_MAX_LEN, SealedClaims, seal_api_key,
};
use ddlink_core::site::Site;
use serde_json::Value;

pub const VECTORS_JSON: &str = include_str!("../vectors/provision_v1.json");

pub fn vectors() -> Vec<Value> {
    let parsed: Value = serde_json::from_str(VECTORS_JSON).expect("vectors file is JSON");
    parsed["vectors"].as_array().expect("vectors array").clone()
}

pub fn hex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd hex length");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digit"))
        .collect()
}

pub fn hex_array<const N: usize>(text: &str) -> [u8; N] {
    hex(text).try_into().expect("hex of the right length")
}

/// Padded standard base64 (the crate is built without `alloc`, so encode into a buffer).
pub fn b64(bytes: &[u8]) -> String {
    let mut out = vec![0u8; bytes.len().div_ceil(3) * 4];
    let len = STANDARD
        .encode_slice(bytes, &mut out)
        .expect("sized exactly");
    out.truncate(len);
    String::from_utf8(out).expect("base64 is ASCII")
}

/// Decodes padded standard base64 (test inputs only).
pub fn hex_from_b64(text: &str) -> Vec<u8> {
    let mut out = vec![0u8; text.len()];
    let len = STANDARD.decode_slice(text, &mut out).expect("base64");
    out.truncate(len);
    out
}

/// The fields of an approval as the gateway would send them (before any tampering).
#[derive(Debug, Clone)]
pub struct Approval {
    pub key_version: u32,
    pub site: String,
    pub api_host: String,
    pub logs_host: String,
    pub server_time: u64,
    pub lease_secs: u32,
    pub nonce: Vec<u8>,
    pub sealed_key: Vec<u8>,
}

impl Approval {
    /// Seals `api_key` exactly as the gateway does, for device `dev-1` answering
    /// [`TEST_CHALLENGE`] with [`TEST_DEVICE_NONCE`], with a lease of [`TEST_LEASE_SECS`].
    pub fn seal(
        secret: &DeviceSecret,
        site: Site,
        key_version: u32,
        server_time: u64,
        api_key: &str,
    ) -> Approval {
        Self::seal_leased(
            secret,
            site,
            key_version,
            server_time,
            TEST_LEASE_SECS,
            api_key,
        )
    }

    /// [`Approval::seal`] with the given lease.
    pub fn seal_leased(
        secret: &DeviceSecret,
        site: Site,
        key_version: u32,
        server_time: u64,
        lease_secs: u32,
        api_key: &str,
    ) -> Approval {
        let device_id = "dev-1";
        let challenge = Challenge::from_bytes(TEST_CHALLENGE, 60);
        let device_nonce = &TEST_DEVICE_NONCE;
        let nonce = [7u8; SEAL_NONCE_LEN];
        let claims = SealedClaims {
            device_id,
            key_version,
            site,
            server_time,
            lease_secs,
        };
        let exchange = ExchangeSecrets {
            secret,
            challenge: challenge.as_bytes(),
            device_nonce,
        };
        let key = ApiKey::new(api_key).expect("test key is valid");
        let mut sealed = [0u8; SEALED_KEY_MAX_LEN];
        let len = seal_api_key(&exchange, &claims, &nonce, &key, &mut sealed).expect("seals");
        Approval {
            key_version,
            site: site.domain().to_owned(),
            api_host: site.api_host().to_string(),
            logs_host: site.logs_host().to_string(),
            server_time,
            lease_secs,
            nonce: nonce.to_vec(),
            sealed_key: sealed[..len].to_vec(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::json!({
            "status": "approved",
            "key_version": self.key_version,
            "site": self.site,
            "api_host": self.api_host,
            "logs_host": self.logs_host,
            "server_time": self.server_time,
            "lease_secs": self.lease_secs,
            "nonce": b64(&self.nonce),
            "sealed_key": b64(&self.sealed_key),
        })
        .to_string()
    }
}

pub const TEST_SECRET: [u8; 32] = [0x42; 32];
pub const TEST_CHALLENGE: [u8; CHALLENGE_LEN] = [0x17; CHALLENGE_LEN];
pub const TEST_DEVICE_NONCE: [u8; DEVICE_NONCE_LEN] = [0x99; DEVICE_NONCE_LEN];
pub const TEST_LEASE_SECS: u32 = 3_600;
pub const TEST_API_KEY: &str = "abcdef0123456789abcdef0123456789";
