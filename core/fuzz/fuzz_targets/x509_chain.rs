//! The certificate path of `net` (DER reader, X.509 fields, RSA / ECDSA checks, chain walk,
//! host names) never panics on any bytes, whether they arrive as the server's chain or as a
//! trust anchor, and never accepts a chain it was not given the anchor for.
#![no_main]

use ddlink_core::net::tls::{CertificateError, ServerTrust, TrustAnchor, verify_server_chain};
use libfuzzer_sys::fuzz_target;

const ROOT: &[u8] = include_bytes!("../../tests/data/x509/dd-root.der");
const INTERMEDIATE: &[u8] = include_bytes!("../../tests/data/x509/dd-intermediate.der");
const LEAF: &[u8] = include_bytes!("../../tests/data/x509/dd-leaf.der");
const HOST: &str = "api.datadoghq.com";

/// Splits `data` into up to five certificates, each prefixed by a 16-bit big-endian length.
fn split(mut data: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    while parts.len() < 5 && data.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([data[0], data[1]]));
        let rest = &data[2..];
        let (part, tail) = rest.split_at(len.min(rest.len()));
        parts.push(part);
        data = tail;
    }
    parts
}

/// 64 bytes from the middle of the first RSA modulus in a certificate.
fn modulus_sample(der: &[u8]) -> &[u8] {
    const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    let at = der
        .windows(RSA_ENCRYPTION.len())
        .position(|w| w == RSA_ENCRYPTION)
        .expect("test certificates hold RSA keys");
    &der[at + 100..at + 164]
}

fuzz_target!(|data: &[u8]| {
    let anchors = [TrustAnchor::from_der(ROOT)];
    let trust = ServerTrust::new(&anchors);
    // Fuzzed bytes as the whole leaf, as a leaf under the real intermediate, and as a chain.
    let _ = verify_server_chain(&[data], &trust, HOST, Some(1_780_272_000));
    let _ = verify_server_chain(&[data, INTERMEDIATE, ROOT], &trust, HOST, None);
    let _ = verify_server_chain(&split(data), &trust, HOST, None);
    // Fuzzed bytes as the only anchor: the real chain must not verify unless they are the root
    // or the intermediate.
    let fuzzed_anchor = [TrustAnchor::from_der(data)];
    let result = verify_server_chain(
        &[LEAF, INTERMEDIATE, ROOT],
        &ServerTrust::new(&fuzzed_anchor),
        HOST,
        None,
    );
    if result.is_ok() {
        let holds_key_of = |issuer: &[u8]| {
            let key = modulus_sample(issuer);
            data.windows(key.len()).any(|window| window == key)
        };
        assert!(
            holds_key_of(ROOT) || holds_key_of(INTERMEDIATE),
            "accepted an anchor without the issuer's key"
        );
    } else {
        assert_ne!(result, Err(CertificateError::NameMismatch));
    }
});
