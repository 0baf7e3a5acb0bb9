//! Signature checks by algorithm: certificate signatures (PKCS#1 v1.5 RSA or ECDSA, any
//! SHA-2) and the TLS 1.3 `CertificateVerify` schemes ddlink offers (RSA-PSS-RSAE and ECDSA
//! P-256 / P-384). ECDSA keys and signatures come from the `p256` / `p384` crates, each only
//! with its feature (`x509-p256`, `x509-p384`); a curve left out fails as
//! [`CertificateError::AlgorithmNotEnabled`], never as a pass.

use embedded_tls::SignatureScheme;

use super::chain::CertificateError;
use super::hash::MAX_DIGEST_LEN;
use super::rsa::RsaKey;
use super::x509::{Hash, PublicKey, SignatureAlgorithm};

/// Checks `signature` by `key` over `message` (a `tbsCertificate`).
pub(crate) fn verify_certificate_signature(
    key: &PublicKey<'_>,
    algorithm: SignatureAlgorithm,
    message: &[u8],
    signature: &[u8],
) -> Result<(), CertificateError> {
    let mut digest = [0u8; MAX_DIGEST_LEN];
    match (algorithm, key) {
        (SignatureAlgorithm::RsaPkcs1(hash), PublicKey::Rsa { modulus, exponent }) => {
            let digest = hash.digest(&[message], &mut digest);
            let key = RsaKey {
                modulus,
                exponent: *exponent,
            };
            key.verify_pkcs1v15(hash, digest, signature)
                .map_err(|_| CertificateError::BadSignature)
        }
        (SignatureAlgorithm::Ecdsa(hash), PublicKey::P256(_) | PublicKey::P384(_)) => {
            verify_ecdsa(key, hash.digest(&[message], &mut digest), signature)
        }
        // The issuer's key cannot have made this kind of signature.
        _ => Err(CertificateError::BadSignature),
    }
}

/// Checks the server's `CertificateVerify` `signature` (scheme `scheme`) over `message` with
/// the leaf `key`. PKCS#1 v1.5 is not allowed there in TLS 1.3 (RFC 8446 4.2.3).
pub(crate) fn verify_handshake_signature(
    key: &PublicKey<'_>,
    scheme: SignatureScheme,
    message: &[u8],
    signature: &[u8],
) -> Result<(), CertificateError> {
    let mut digest = [0u8; MAX_DIGEST_LEN];
    let hash = match (scheme, key) {
        (SignatureScheme::EcdsaSecp256r1Sha256, PublicKey::P256(_)) => {
            return verify_ecdsa(key, Hash::Sha256.digest(&[message], &mut digest), signature);
        }
        (SignatureScheme::EcdsaSecp384r1Sha384, PublicKey::P384(_)) => {
            return verify_ecdsa(key, Hash::Sha384.digest(&[message], &mut digest), signature);
        }
        (SignatureScheme::RsaPssRsaeSha256, PublicKey::Rsa { .. }) => Hash::Sha256,
        (SignatureScheme::RsaPssRsaeSha384, PublicKey::Rsa { .. }) => Hash::Sha384,
        (SignatureScheme::RsaPssRsaeSha512, PublicKey::Rsa { .. }) => Hash::Sha512,
        _ => return Err(CertificateError::UnsupportedAlgorithm),
    };
    let PublicKey::Rsa { modulus, exponent } = key else {
        return Err(CertificateError::UnsupportedAlgorithm);
    };
    let key = RsaKey {
        modulus,
        exponent: *exponent,
    };
    key.verify_pss(hash, hash.digest(&[message], &mut digest), signature)
        .map_err(|_| CertificateError::BadSignature)
}

/// Whether this build can check signatures by `key`: ECDSA keys on a curve whose feature is off
/// fail as [`CertificateError::AlgorithmNotEnabled`].
pub(crate) fn ensure_enabled(key: &PublicKey<'_>) -> Result<(), CertificateError> {
    match key {
        PublicKey::P256(_) if !cfg!(feature = "x509-p256") => {
            Err(CertificateError::AlgorithmNotEnabled)
        }
        PublicKey::P384(_) if !cfg!(feature = "x509-p384") => {
            Err(CertificateError::AlgorithmNotEnabled)
        }
        _ => Ok(()),
    }
}

/// ECDSA over a prehashed message; a hash longer than the curve is truncated as FIPS 186 says.
#[cfg_attr(
    not(any(feature = "x509-p256", feature = "x509-p384")),
    allow(
        unused_variables,
        reason = "no curve in this build: every ECDSA key is refused before these are read"
    )
)]
fn verify_ecdsa(
    key: &PublicKey<'_>,
    prehash: &[u8],
    signature: &[u8],
) -> Result<(), CertificateError> {
    ensure_enabled(key)?;
    let verified = match key {
        #[cfg(feature = "x509-p256")]
        PublicKey::P256(point) => {
            use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
            let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .map_err(|_| CertificateError::Malformed)?;
            let signature = p256::ecdsa::DerSignature::from_bytes(signature)
                .map_err(|_| CertificateError::BadSignature)?;
            key.verify_prehash(prehash, &signature).is_ok()
        }
        #[cfg(feature = "x509-p384")]
        PublicKey::P384(point) => {
            use p384::ecdsa::signature::hazmat::PrehashVerifier as _;
            let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .map_err(|_| CertificateError::Malformed)?;
            let signature = p384::ecdsa::DerSignature::from_bytes(signature)
                .map_err(|_| CertificateError::BadSignature)?;
            key.verify_prehash(prehash, &signature).is_ok()
        }
        // RSA keys, and curves this build leaves out (refused above).
        _ => false,
    };
    if verified {
        Ok(())
    } else {
        Err(CertificateError::BadSignature)
    }
}
