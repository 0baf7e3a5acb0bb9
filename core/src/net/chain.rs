//! The server's certificate chain, verified one certificate at a time as embedded-tls hands it
//! over: leaf name and validity, each link's issuer name, CA flag and signature, up to one of
//! the firmware's trust anchors; then the handshake signature with the leaf key.
//!
//! Nothing of the chain is copied: the certificates are read where embedded-tls decrypted them
//! (the TLS read buffer), and only the leaf's public key (at most 516 bytes) and the transcript
//! hash are kept until the `CertificateVerify` message arrives.
//!
//! The walk is strict: the leaf is certificate 0; each next certificate must be named by the
//! previous one's issuer, be a CA (`basicConstraints cA`), be within its validity window (when
//! the clock is known) and carry the key that signed the previous one. The walk ends as soon as
//! a certificate's issuer is an anchor's subject and that anchor's key verifies it, so a root the
//! server also sends (as Datadog's intake does) is never needed nor trusted by itself. Names are
//! compared byte for byte (as webpki does) rather than with X.500 folding rules.

use digest::Digest as _;
use embedded_tls::{
    Aes128GcmSha256, CertificateEntryRef, CertificateRef, CertificateVerifyRef, Sha256, TlsClock,
    TlsError, TlsVerifier,
};

use super::signatures::{ensure_enabled, verify_certificate_signature, verify_handshake_signature};
use super::tls::ServerTrust;
use super::x509::{Certificate, PublicKey, RSA_MAX_MODULUS_BYTES, host_matches};

/// Most certificates accepted in a chain (leaf included); a longer chain fails as too large.
pub const MAX_CHAIN_CERTIFICATES: usize = 6;

/// Why the server was not trusted. Every handshake failure caused by the certificate chain or
/// the handshake signature maps to exactly one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CertificateError {
    /// A certificate (or a trust anchor) is not well-formed DER X.509, or the chain is empty.
    Malformed,
    /// A signature algorithm or key type/size ddlink does not verify (see the module docs).
    UnsupportedAlgorithm,
    /// The chain or the handshake signature needs ECDSA on a curve this build leaves out: enable
    /// ddlink-core's feature `x509-p256` or `x509-p384`.
    AlgorithmNotEnabled,
    /// A certificate carries a critical extension ddlink does not understand.
    UnknownCriticalExtension,
    /// A signature in the chain, or the server's handshake signature, is wrong: forged,
    /// corrupted, or made with another key than the one the chain names.
    BadSignature,
    /// The chain does not lead to any of the firmware's trust anchors.
    UnknownIssuer,
    /// A certificate other than the leaf is not a CA.
    NotCa,
    /// The leaf is not for the host name the device connected to.
    NameMismatch,
    /// A certificate's validity ended before the clock's now.
    Expired,
    /// A certificate's validity starts after the clock's now.
    NotYetValid,
    /// The chain has more bytes or certificates than the device accepts.
    ChainTooLarge,
    /// The server sent `CertificateVerify` without a verified chain before it.
    OutOfOrder,
}

impl core::fmt::Display for CertificateError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Malformed => "malformed certificate",
            Self::UnsupportedAlgorithm => "unsupported signature algorithm or key",
            Self::AlgorithmNotEnabled => "signature algorithm not enabled in this build",
            Self::UnknownCriticalExtension => "unknown critical certificate extension",
            Self::BadSignature => "bad signature",
            Self::UnknownIssuer => "chain does not end at a trust anchor",
            Self::NotCa => "an issuing certificate is not a CA",
            Self::NameMismatch => "certificate is not for this host name",
            Self::Expired => "certificate expired",
            Self::NotYetValid => "certificate not yet valid",
            Self::ChainTooLarge => "certificate chain too large",
            Self::OutOfOrder => "handshake signature before the certificate",
        })
    }
}

impl core::error::Error for CertificateError {}

/// The leaf's public key, copied out of the read buffer for the `CertificateVerify` check.
struct LeafKey {
    kind: LeafKeyKind,
    bytes: [u8; RSA_MAX_MODULUS_BYTES],
    len: usize,
}

#[derive(Clone, Copy)]
enum LeafKeyKind {
    Rsa { exponent: u32 },
    P256,
    P384,
}

impl LeafKey {
    fn copy_of(key: &PublicKey<'_>) -> Result<Self, CertificateError> {
        let (kind, source) = match *key {
            PublicKey::Rsa { modulus, exponent } => (LeafKeyKind::Rsa { exponent }, modulus),
            PublicKey::P256(point) => (LeafKeyKind::P256, point),
            PublicKey::P384(point) => (LeafKeyKind::P384, point),
        };
        let mut bytes = [0u8; RSA_MAX_MODULUS_BYTES];
        bytes
            .get_mut(..source.len())
            .ok_or(CertificateError::UnsupportedAlgorithm)?
            .copy_from_slice(source);
        Ok(Self {
            kind,
            bytes,
            len: source.len(),
        })
    }

    fn key(&self) -> PublicKey<'_> {
        let bytes = self.bytes.get(..self.len).unwrap_or_default();
        match self.kind {
            LeafKeyKind::Rsa { exponent } => PublicKey::Rsa {
                modulus: bytes,
                exponent,
            },
            LeafKeyKind::P256 => PublicKey::P256(bytes),
            LeafKeyKind::P384 => PublicKey::P384(bytes),
        }
    }
}

/// An embedded-tls verifier for one handshake with `host`, trusting `trust`'s anchors; `C`
/// supplies the time for validity checks (none: not checked).
pub struct ChainVerifier<'a, C: TlsClock> {
    trust: ServerTrust<'a>,
    host: &'a str,
    leaf_key: Option<LeafKey>,
    transcript: Option<Sha256>,
    failure: Option<CertificateError>,
    _clock: core::marker::PhantomData<C>,
}

impl<C: TlsClock> core::fmt::Debug for ChainVerifier<'_, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ChainVerifier")
            .field("host", &self.host)
            .field("failure", &self.failure)
            .finish_non_exhaustive()
    }
}

impl<'a, C: TlsClock> ChainVerifier<'a, C> {
    /// A verifier for a session with `host` (also checked against what embedded-tls sends as SNI).
    pub fn new(trust: ServerTrust<'a>, host: &'a str) -> Self {
        Self {
            trust,
            host,
            leaf_key: None,
            transcript: None,
            failure: None,
            _clock: core::marker::PhantomData,
        }
    }

    /// Why the last verification failed, if it did.
    pub fn failure(&self) -> Option<CertificateError> {
        self.failure
    }

    fn fail(&mut self, error: CertificateError) -> TlsError {
        self.failure = Some(error);
        match error {
            CertificateError::BadSignature => TlsError::InvalidSignature,
            _ => TlsError::InvalidCertificate,
        }
    }
}

/// Verifies a server chain given as DER certificates, leaf first, for `host` at `now_unix_s`
/// (`None` skips validity dates) against `trust`: the same checks a handshake makes before the
/// handshake signature. Useful to check a firmware's anchors against a captured chain.
pub fn verify_server_chain(
    chain: &[&[u8]],
    trust: &ServerTrust<'_>,
    host: &str,
    now_unix_s: Option<u64>,
) -> Result<(), CertificateError> {
    verify_chain(chain, trust, host, now_unix_s).map(|_| ())
}

/// [`verify_server_chain`], returning the leaf's public key.
fn verify_chain<'c>(
    entries: &[&'c [u8]],
    trust: &ServerTrust<'_>,
    host: &str,
    now: Option<u64>,
) -> Result<PublicKey<'c>, CertificateError> {
    let total: usize = entries.iter().map(|der| der.len()).sum();
    if total > trust.max_chain_bytes() || entries.len() > MAX_CHAIN_CERTIFICATES {
        return Err(CertificateError::ChainTooLarge);
    }
    let (leaf_der, issuers) = entries.split_first().ok_or(CertificateError::Malformed)?;
    let leaf = Certificate::parse(leaf_der)?;
    check_validity(&leaf, now)?;
    if !leaf.any_dns_name(|name| host_matches(name, host.as_bytes())) {
        return Err(CertificateError::NameMismatch);
    }
    // The leaf key signs the handshake: a chain it could never be used with is refused here.
    ensure_enabled(&leaf.public_key)?;
    let mut current = leaf;
    let mut issuers = issuers.iter();
    loop {
        match anchored(&current, trust)? {
            Anchored::Yes => return Ok(leaf.public_key),
            Anchored::SignatureFailed => return Err(CertificateError::BadSignature),
            Anchored::No => {}
        }
        let Some(issuer_der) = issuers.next() else {
            return Err(CertificateError::UnknownIssuer);
        };
        let issuer = Certificate::parse(issuer_der)?;
        if issuer.subject != current.issuer {
            return Err(CertificateError::UnknownIssuer);
        }
        if !issuer.is_ca {
            return Err(CertificateError::NotCa);
        }
        check_validity(&issuer, now)?;
        verify_certificate_signature(
            &issuer.public_key,
            current.signature_algorithm,
            current.signed,
            current.signature,
        )?;
        current = issuer;
    }
}

enum Anchored {
    Yes,
    /// An anchor has the issuer's name but its key did not verify the signature.
    SignatureFailed,
    No,
}

/// Whether an anchor issued `certificate`: same name and its key verifies the signature.
fn anchored(
    certificate: &Certificate<'_>,
    trust: &ServerTrust<'_>,
) -> Result<Anchored, CertificateError> {
    let mut outcome = Anchored::No;
    for anchor in trust.anchors() {
        let anchor = Certificate::parse(anchor.der()).map_err(|_| CertificateError::Malformed)?;
        if anchor.subject != certificate.issuer {
            continue;
        }
        match verify_certificate_signature(
            &anchor.public_key,
            certificate.signature_algorithm,
            certificate.signed,
            certificate.signature,
        ) {
            Ok(()) => return Ok(Anchored::Yes),
            Err(CertificateError::BadSignature) => outcome = Anchored::SignatureFailed,
            Err(other) => return Err(other),
        }
    }
    Ok(outcome)
}

fn check_validity(certificate: &Certificate<'_>, now: Option<u64>) -> Result<(), CertificateError> {
    match now {
        Some(now) if now < certificate.not_before => Err(CertificateError::NotYetValid),
        Some(now) if now > certificate.not_after => Err(CertificateError::Expired),
        _ => Ok(()),
    }
}

impl<C: TlsClock> TlsVerifier<Aes128GcmSha256> for ChainVerifier<'_, C> {
    fn set_hostname_verification(&mut self, hostname: &str) -> Result<(), TlsError> {
        // The name to verify was fixed at construction; embedded-tls passes the SNI it sends.
        if hostname == self.host {
            Ok(())
        } else {
            Err(self.fail(CertificateError::NameMismatch))
        }
    }

    fn verify_certificate(
        &mut self,
        transcript: &Sha256,
        certificate: CertificateRef<'_>,
    ) -> Result<(), TlsError> {
        let mut ders: [&[u8]; MAX_CHAIN_CERTIFICATES] = [&[]; MAX_CHAIN_CERTIFICATES];
        if certificate.entries.len() > MAX_CHAIN_CERTIFICATES {
            return Err(self.fail(CertificateError::ChainTooLarge));
        }
        for (slot, entry) in ders.iter_mut().zip(certificate.entries.iter()) {
            match entry {
                CertificateEntryRef::X509(der) => *slot = der,
                CertificateEntryRef::RawPublicKey(_) => {
                    return Err(self.fail(CertificateError::UnsupportedAlgorithm));
                }
            }
        }
        let ders = ders.get(..certificate.entries.len()).unwrap_or_default();
        let leaf_key = verify_chain(ders, &self.trust, self.host, C::now())
            .and_then(|key| LeafKey::copy_of(&key));
        match leaf_key {
            Ok(key) => {
                self.leaf_key = Some(key);
                self.transcript = Some(transcript.clone());
                Ok(())
            }
            Err(error) => Err(self.fail(error)),
        }
    }

    fn verify_signature(&mut self, verify: CertificateVerifyRef<'_>) -> Result<(), TlsError> {
        let (Some(key), Some(transcript)) = (self.leaf_key.take(), self.transcript.take()) else {
            return Err(self.fail(CertificateError::OutOfOrder));
        };
        // RFC 8446 4.4.3: 64 spaces, the context string, a zero byte, the transcript hash.
        const CONTEXT: &[u8] = b"TLS 1.3, server CertificateVerify\x00";
        let mut message = [0x20u8; 64 + CONTEXT.len() + 32];
        let (_, rest) = message.split_at_mut(64);
        let (context, hash) = rest.split_at_mut(CONTEXT.len());
        context.copy_from_slice(CONTEXT);
        hash.copy_from_slice(&transcript.finalize());
        verify_handshake_signature(
            &key.key(),
            verify.signature_scheme,
            &message,
            verify.signature,
        )
        .map_err(|error| self.fail(error))
    }
}
