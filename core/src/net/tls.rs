//! TLS 1.3 with certificate verification, on `embedded-tls` 0.19 used directly (reqwless is built
//! without its TLS feature: its own path pins embedded-tls 0.18, matches only the exact CN and
//! seeds the handshake RNG with 64 bits).
//!
//! What is verified (by [`ChainVerifier`], not by embedded-tls's own verifier, which needs `alloc`
//! for RSA): the server's chain up to one of the trust anchors the firmware supplies (CA
//! certificates in DER, several allowed for root rotation), the handshake signature, and the host
//! name against the leaf's SAN dNSNames (wildcards allowed, all of them checked) or, without
//! any, its CN. Validity dates are checked when the [`TlsClock`] knows the time.
//!
//! Server keys: RSA 2048–4096 bits (chains signed with PKCS#1 v1.5 SHA-256/384/512; the
//! handshake signed with RSA-PSS-RSAE SHA-256/384/512, whichever the server picks) and ECDSA
//! P-256 / P-384 (features `x509-p256` / `x509-p384`); chains may mix them. The ClientHello offers
//! these schemes, and embedded-tls always adds the ECDSA ones (and Ed25519): a curve left out of
//! the build, like Ed25519, fails the handshake with a [`CertificateError`], never passes it.

use embedded_io_async::{Read, Write};
use embedded_tls::{
    Aes128GcmSha256, CryptoProvider, CryptoRngCore, TlsConfig, TlsConnection, TlsContext, TlsError,
};

pub use super::chain::{
    CertificateError, ChainVerifier, MAX_CHAIN_CERTIFICATES, verify_server_chain,
};
pub use embedded_tls::{NoClock, TlsClock};

/// Default limit on the certificates' total size in the server's chain: Datadog's intake sends
/// about 5 KB (leaf with SCTs, Sectigo intermediate, USERTrust root), so 8 KiB holds it with room.
/// The chain is not copied: this bounds the work, the bytes sit in the TLS read buffer anyway.
pub const DEFAULT_MAX_CERTIFICATE_CHAIN: usize = 8192;
/// Read buffer for TLS records: a full 16 KiB record plus its overhead (servers may send that).
pub const TLS_READ_BUFFER: usize = 16_640;
/// Smallest sensible write buffer: TLS adds up to 128 bytes per record and the ClientHello must
/// fit in the larger of the two buffers.
pub const TLS_MIN_WRITE_BUFFER: usize = 1024;

/// A certificate authority a device trusts, as DER bytes.
#[derive(Clone, Copy)]
pub struct TrustAnchor<'a> {
    der: &'a [u8],
}

impl<'a> TrustAnchor<'a> {
    /// A trust anchor from a DER-encoded X.509 CA certificate. The bytes are parsed during the
    /// handshake; a malformed anchor makes handshakes fail with [`CertificateError::Malformed`].
    pub const fn from_der(der: &'a [u8]) -> Self {
        Self { der }
    }

    /// The DER bytes.
    pub const fn der(&self) -> &'a [u8] {
        self.der
    }
}

impl core::fmt::Debug for TrustAnchor<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TrustAnchor")
            .field("der_len", &self.der.len())
            .finish()
    }
}

/// What a device trusts for its TLS connections: one or more anchors (a chain ending at any of
/// them is accepted, so a new root can be shipped before the service switches to it) and the
/// largest chain it will look at.
#[derive(Debug, Clone, Copy)]
pub struct ServerTrust<'a> {
    anchors: &'a [TrustAnchor<'a>],
    max_chain_bytes: usize,
}

impl<'a> ServerTrust<'a> {
    /// Trusts chains ending at any of `anchors`, of up to [`DEFAULT_MAX_CERTIFICATE_CHAIN`] bytes.
    pub const fn new(anchors: &'a [TrustAnchor<'a>]) -> Self {
        Self {
            anchors,
            max_chain_bytes: DEFAULT_MAX_CERTIFICATE_CHAIN,
        }
    }

    /// Changes the chain size limit (sum of the certificates' DER sizes).
    #[must_use]
    pub const fn with_max_chain_bytes(mut self, max_chain_bytes: usize) -> Self {
        self.max_chain_bytes = max_chain_bytes;
        self
    }

    /// The anchors.
    pub const fn anchors(&self) -> &'a [TrustAnchor<'a>] {
        self.anchors
    }

    /// The chain size limit in bytes.
    pub const fn max_chain_bytes(&self) -> usize {
        self.max_chain_bytes
    }
}

/// An `embedded-tls` crypto provider that verifies the server with a [`ChainVerifier`] and
/// draws handshake randomness from the caller's CSPRNG.
pub struct VerifyingProvider<'a, R, C: TlsClock = NoClock> {
    rng: R,
    verifier: ChainVerifier<'a, C>,
}

impl<R, C: TlsClock> core::fmt::Debug for VerifyingProvider<'_, R, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("VerifyingProvider")
            .field("verifier", &self.verifier)
            .finish_non_exhaustive()
    }
}

impl<'a, R: CryptoRngCore, C: TlsClock> VerifyingProvider<'a, R, C> {
    /// A provider for a session with `host`, verifying against `trust`, with `rng` for key
    /// shares and nonces.
    pub fn new(trust: ServerTrust<'a>, host: &'a str, rng: R) -> Self {
        Self {
            rng,
            verifier: ChainVerifier::new(trust, host),
        }
    }

    /// Why the server was not trusted, after a failed handshake.
    pub fn certificate_failure(&self) -> Option<CertificateError> {
        self.verifier.failure()
    }
}

impl<R: CryptoRngCore, C: TlsClock> CryptoProvider for VerifyingProvider<'_, R, C> {
    type CipherSuite = Aes128GcmSha256;
    // No client certificate is ever presented, so signatures are never produced.
    type Signature = [u8; 0];

    fn rng(&mut self) -> impl CryptoRngCore {
        &mut self.rng
    }

    fn verifier(
        &mut self,
    ) -> Result<&mut impl embedded_tls::TlsVerifier<Self::CipherSuite>, TlsError> {
        Ok(&mut self.verifier)
    }
}

/// Why a verified session could not be opened.
#[derive(Debug, Clone, Copy)]
pub enum OpenError {
    /// The server was not trusted.
    Certificate(CertificateError),
    /// Any other handshake or I/O failure.
    Tls(TlsError),
}

impl core::fmt::Display for OpenError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Certificate(e) => write!(f, "server not trusted: {e}"),
            Self::Tls(e) => write!(f, "TLS handshake failed: {e:?}"),
        }
    }
}

impl core::error::Error for OpenError {}

/// Opens a verified TLS 1.3 session over `socket` for `server_name`.
///
/// `server_name` is both sent as SNI and checked against the certificate: the session is never
/// opened without a host-name check. `read_buffer` should be [`TLS_READ_BUFFER`] bytes (it also
/// holds the server's certificate chain while it is verified); `write_buffer` at least
/// [`TLS_MIN_WRITE_BUFFER`].
pub async fn open_verified<'b, S, R, C>(
    socket: S,
    server_name: &str,
    trust: ServerTrust<'_>,
    rng: R,
    read_buffer: &'b mut [u8],
    write_buffer: &'b mut [u8],
) -> Result<TlsConnection<'b, S, Aes128GcmSha256>, OpenError>
where
    S: Read + Write + 'b,
    R: CryptoRngCore,
    C: TlsClock,
{
    if server_name.is_empty() {
        return Err(OpenError::Certificate(CertificateError::NameMismatch));
    }
    // Offers RSA-PSS (and PKCS#1 v1.5 for certificates) next to ECDSA: all verified here.
    let config = TlsConfig::new()
        .enable_rsa_signatures()
        .with_server_name(server_name);
    let mut provider = VerifyingProvider::<R, C>::new(trust, server_name, rng);
    let mut tls = TlsConnection::new(socket, read_buffer, write_buffer);
    let opened = tls.open(TlsContext::new(&config, &mut provider)).await;
    match (opened, provider.certificate_failure()) {
        (Ok(()), _) => Ok(tls),
        (Err(_), Some(failure)) => Err(OpenError::Certificate(failure)),
        (Err(error), None) => Err(OpenError::Tls(error)),
    }
}
