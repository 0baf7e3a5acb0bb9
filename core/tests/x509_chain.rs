//! `net::tls::verify_server_chain` on certificates made by Python `cryptography`
//! (tests/data/x509/make_vectors.py): a Datadog-shaped RSA chain (RSA-4096 root, RSA-2048
//! intermediate and leaf), root rotation, mixed RSA/ECDSA chains, and each way a chain must
//! fail, each with its own error. The ECDSA cases depend on the features `x509-p256` and
//! `x509-p384`: with them the chains verify, without them they fail as `AlgorithmNotEnabled`.
#![cfg(feature = "net")]

use ddlink_core::net::tls::{
    CertificateError, MAX_CHAIN_CERTIFICATES, ServerTrust, TrustAnchor, verify_server_chain,
};

macro_rules! cert {
    ($name:literal) => {
        include_bytes!(concat!("data/x509/", $name)).as_slice()
    };
}

const ROOT: &[u8] = cert!("dd-root.der");
const ROOT_2: &[u8] = cert!("dd-root-2.der");
const INTERMEDIATE: &[u8] = cert!("dd-intermediate.der");
const LEAF: &[u8] = cert!("dd-leaf.der");
const OTHER_ROOT: &[u8] = cert!("other-root.der");
const EC_ROOT: &[u8] = cert!("ec-root.der");
const EC_LEAF: &[u8] = cert!("ec-leaf.der");
const MIXED_LEAF: &[u8] = cert!("mixed-leaf.der");
const NOT_CA_LEAF: &[u8] = cert!("not-ca-leaf.der");

const HOST: &str = "api.datadoghq.com";
/// 2026-06-01T00:00:00Z: inside every test certificate's validity.
const JUNE_2026: u64 = 1_780_272_000;

fn verify(chain: &[&[u8]], anchors: &[&[u8]], host: &str) -> Result<(), CertificateError> {
    let anchors: Vec<TrustAnchor<'_>> = anchors.iter().map(|d| TrustAnchor::from_der(d)).collect();
    verify_server_chain(chain, &ServerTrust::new(&anchors), host, Some(JUNE_2026))
}

/// `der` with one bit flipped `from_end` bytes before its end (inside the signature).
fn flip_near_end(der: &[u8], from_end: usize) -> Vec<u8> {
    let mut forged = der.to_vec();
    let at = forged.len() - from_end;
    forged[at] ^= 0x01;
    forged
}

#[test]
fn datadog_shaped_rsa_chain_verifies_with_or_without_the_root_sent() {
    assert_eq!(verify(&[LEAF, INTERMEDIATE, ROOT], &[ROOT], HOST), Ok(()));
    assert_eq!(verify(&[LEAF, INTERMEDIATE], &[ROOT], HOST), Ok(()));
    // The bare domain is a SAN too; the intermediate itself may also be the anchor.
    assert_eq!(
        verify(&[LEAF, INTERMEDIATE], &[ROOT], "datadoghq.com"),
        Ok(())
    );
    assert_eq!(verify(&[LEAF], &[INTERMEDIATE], HOST), Ok(()));
}

#[test]
fn any_of_several_anchors_ends_the_chain() {
    assert_eq!(
        verify(&[LEAF, INTERMEDIATE, ROOT], &[ROOT_2, ROOT], HOST),
        Ok(())
    );
    assert_eq!(
        verify(&[LEAF, INTERMEDIATE, ROOT], &[ROOT, ROOT_2], HOST),
        Ok(())
    );
    assert_eq!(
        verify(&[LEAF, INTERMEDIATE, ROOT], &[ROOT_2, OTHER_ROOT], HOST),
        Err(CertificateError::UnknownIssuer)
    );
}

#[cfg(all(feature = "x509-p256", feature = "x509-p384"))]
#[test]
fn ecdsa_and_mixed_chains_verify() {
    // P-384 root signing a P-256 leaf with SHA-384.
    assert_eq!(verify(&[EC_LEAF], &[EC_ROOT], HOST), Ok(()));
    // RSA intermediate signing a P-256 leaf.
    assert_eq!(verify(&[MIXED_LEAF, INTERMEDIATE], &[ROOT], HOST), Ok(()));
    assert_eq!(
        verify(&[EC_LEAF], &[ROOT], HOST),
        Err(CertificateError::UnknownIssuer)
    );
}

#[test]
fn forged_signatures_fail_as_bad_signature() {
    let forged_leaf = flip_near_end(LEAF, 10);
    assert_eq!(
        verify(&[&forged_leaf, INTERMEDIATE, ROOT], &[ROOT], HOST),
        Err(CertificateError::BadSignature)
    );
    let forged_intermediate = flip_near_end(INTERMEDIATE, 10);
    assert_eq!(
        verify(&[LEAF, &forged_intermediate, ROOT], &[ROOT], HOST),
        Err(CertificateError::BadSignature)
    );
}

#[cfg(all(feature = "x509-p256", feature = "x509-p384"))]
#[test]
fn a_forged_ecdsa_signature_fails_as_bad_signature() {
    let forged_ec = flip_near_end(EC_LEAF, 5);
    assert!(matches!(
        verify(&[&forged_ec], &[EC_ROOT], HOST),
        Err(CertificateError::BadSignature | CertificateError::Malformed)
    ));
}

/// Built without P-384 (as a board for Datadog's RSA chain is): the P-384 root's signature on
/// the EC leaf cannot be checked, so the chain fails with its own error, and RSA still works.
#[cfg(not(feature = "x509-p384"))]
#[test]
fn a_chain_needing_p384_fails_when_p384_is_left_out() {
    assert_eq!(
        verify(&[EC_LEAF], &[EC_ROOT], HOST),
        Err(CertificateError::AlgorithmNotEnabled)
    );
    assert_eq!(verify(&[LEAF, INTERMEDIATE, ROOT], &[ROOT], HOST), Ok(()));
}

/// Built without P-256: an RSA-signed chain ending in a P-256 leaf verifies every signature,
/// but the leaf key could never check the handshake, so the chain is refused.
#[cfg(not(feature = "x509-p256"))]
#[test]
fn a_p256_leaf_fails_when_p256_is_left_out() {
    assert_eq!(
        verify(&[MIXED_LEAF, INTERMEDIATE], &[ROOT], HOST),
        Err(CertificateError::AlgorithmNotEnabled)
    );
}

#[test]
fn an_unknown_anchor_fails_as_unknown_issuer() {
    assert_eq!(
        verify(&[LEAF, INTERMEDIATE, ROOT], &[OTHER_ROOT], HOST),
        Err(CertificateError::UnknownIssuer)
    );
    // A root sent by the server is not trusted because it was sent.
    assert_eq!(
        verify(&[LEAF, INTERMEDIATE, ROOT], &[], HOST),
        Err(CertificateError::UnknownIssuer)
    );
}

#[test]
fn a_name_mismatch_fails_as_name_mismatch() {
    for host in [
        "api.datadoghq.eu",
        "a.b.datadoghq.com",
        "datadoghq.com.evil",
        "",
    ] {
        assert_eq!(
            verify(&[LEAF, INTERMEDIATE, ROOT], &[ROOT], host),
            Err(CertificateError::NameMismatch),
            "{host}"
        );
    }
}

#[test]
fn an_oversize_chain_fails_as_chain_too_large() {
    let anchors = [TrustAnchor::from_der(ROOT)];
    let chain = [LEAF, INTERMEDIATE, ROOT];
    let size: usize = chain.iter().map(|c| c.len()).sum();
    let trust = ServerTrust::new(&anchors).with_max_chain_bytes(size - 1);
    assert_eq!(
        verify_server_chain(&chain, &trust, HOST, None),
        Err(CertificateError::ChainTooLarge)
    );
    let trust = ServerTrust::new(&anchors).with_max_chain_bytes(size);
    assert_eq!(verify_server_chain(&chain, &trust, HOST, None), Ok(()));
    let long = vec![INTERMEDIATE; MAX_CHAIN_CERTIFICATES + 1];
    assert_eq!(
        verify_server_chain(&long, &ServerTrust::new(&anchors), HOST, None),
        Err(CertificateError::ChainTooLarge)
    );
}

#[test]
fn validity_is_checked_only_with_a_clock() {
    let anchors = [TrustAnchor::from_der(ROOT)];
    let trust = ServerTrust::new(&anchors);
    let chain = [LEAF, INTERMEDIATE];
    // The leaf is valid 2026-01-01 .. 2027-01-31.
    assert_eq!(
        verify_server_chain(&chain, &trust, HOST, Some(1_767_225_599)),
        Err(CertificateError::NotYetValid)
    );
    assert_eq!(
        verify_server_chain(&chain, &trust, HOST, Some(1_830_000_000)),
        Err(CertificateError::Expired)
    );
    assert_eq!(verify_server_chain(&chain, &trust, HOST, None), Ok(()));
}

#[test]
fn a_leaf_cannot_issue_certificates() {
    assert_eq!(
        verify(&[NOT_CA_LEAF, LEAF, INTERMEDIATE], &[ROOT], HOST),
        Err(CertificateError::NotCa)
    );
}

#[test]
fn malformed_input_fails_as_malformed() {
    assert_eq!(verify(&[], &[ROOT], HOST), Err(CertificateError::Malformed));
    assert_eq!(
        verify(&[&LEAF[..LEAF.len() - 1], INTERMEDIATE], &[ROOT], HOST),
        Err(CertificateError::Malformed)
    );
    assert_eq!(
        verify(&[LEAF, INTERMEDIATE], &[&ROOT[..100]], HOST),
        Err(CertificateError::Malformed)
    );
    let mut trailing = LEAF.to_vec();
    trailing.push(0);
    assert_eq!(
        verify(&[&trailing, INTERMEDIATE], &[ROOT], HOST),
        Err(CertificateError::Malformed)
    );
}
