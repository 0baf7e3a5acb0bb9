//! TLS 1.3 with certificate verification, on `embedded-tls` 0.19 used directly (reqwless is built
//! without its TLS feature: its own path pins embedded-tls 0.18, matches only the exact CN and
//! seeds the handshake RNG with 64 bits).
//!
//! What is verified: the server's chain up to the one trust anchor the firmware supplies (a CA
//! certificate in DER), the handshake signature, and the host name against the leaf's SAN
//! dNSNames (wildcards allowed; embedded-tls keeps only the first three) or CN. Validity dates
//! are checked when the [`TlsClock`] knows the time. Supported server keys: ECDSA P-256 and P-384.

use embedded_io_async::{Read, Write};
use embedded_tls::pki::CertVerifier;
use embedded_tls::{
    Aes128GcmSha256, Certificate, CryptoProvider, CryptoRngCore, TlsConfig, TlsConnection,
    TlsContext, TlsError,
};

pub use embedded_tls::{NoClock, TlsClock};

/// Largest server certificate chain (the whole TLS `Certificate` message) that can be verified.
pub const MAX_CERTIFICATE_CHAIN: usize = 4096;
/// Read buffer for TLS records: a full 16 KiB record plus its overhead (servers may send that).
pub const TLS_READ_BUFFER: usize = 16_640;
/// Smallest sensible write buffer: TLS adds up to 128 bytes per record and the ClientHello must
/// fit in the larger of the two buffers.
pub const TLS_MIN_WRITE_BUFFER: usize = 1024;

/// The certificate authority a device trusts for one endpoint, as DER bytes.
#[derive(Clone, Copy)]
pub struct TrustAnchor<'a> {
    der: &'a [u8],
}

impl<'a> TrustAnchor<'a> {
    /// A trust anchor from a DER-encoded X.509 CA certificate. The bytes are parsed during the
    /// handshake; a malformed certificate makes every handshake fail with `InvalidCertificate`.
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

/// An `embedded-tls` crypto provider that verifies the server against a [`TrustAnchor`] and
/// draws handshake randomness from the caller's CSPRNG.
pub struct VerifyingProvider<'a, R, C: TlsClock = NoClock> {
    rng: R,
    verifier: CertVerifier<'a, Aes128GcmSha256, C, MAX_CERTIFICATE_CHAIN>,
}

impl<R, C: TlsClock> core::fmt::Debug for VerifyingProvider<'_, R, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("VerifyingProvider")
    }
}

impl<'a, R: CryptoRngCore, C: TlsClock> VerifyingProvider<'a, R, C> {
    /// A provider verifying against `anchor`, with `rng` for key shares and nonces.
    pub fn new(anchor: TrustAnchor<'a>, rng: R) -> Self {
        Self {
            rng,
            verifier: CertVerifier::new(Certificate::X509(anchor.der)),
        }
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

/// Opens a verified TLS 1.3 session over `socket` for `server_name`.
///
/// `server_name` is both sent as SNI and checked against the certificate: the session is never
/// opened without a host-name check. `read_buffer` should be [`TLS_READ_BUFFER`] bytes;
/// `write_buffer` at least [`TLS_MIN_WRITE_BUFFER`].
pub async fn open_verified<'b, S, R, C>(
    socket: S,
    server_name: &str,
    anchor: TrustAnchor<'_>,
    rng: R,
    read_buffer: &'b mut [u8],
    write_buffer: &'b mut [u8],
) -> Result<TlsConnection<'b, S, Aes128GcmSha256>, TlsError>
where
    S: Read + Write + 'b,
    R: CryptoRngCore,
    C: TlsClock,
{
    if server_name.is_empty() {
        return Err(TlsError::InvalidCertificate);
    }
    let config = TlsConfig::new().with_server_name(server_name);
    let provider = VerifyingProvider::<R, C>::new(anchor, rng);
    let mut tls = TlsConnection::new(socket, read_buffer, write_buffer);
    tls.open(TlsContext::new(&config, provider)).await?;
    Ok(tls)
}
