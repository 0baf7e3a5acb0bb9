//! Async uploader (feature `net`): sends encoded payloads to Datadog over `embedded-nal-async`
//! TCP + DNS, with TLS 1.3 from `embedded-tls` 0.19 (certificate verification on) and HTTP
//! response parsing from `reqwless` (built without its own TLS). Request heads come from
//! [`crate::http`], verdicts from [`crate::http::classify`], back-off from [`crate::retry`].
//!
//! - [`Uploader`]: the bounded payload queue and its send loop, with [`UploaderCounters`];
//! - [`Connection`]: one kept-alive connection to an intake host, lent [`TlsBuffers`];
//! - [`tls`]: the verifying crypto provider and [`tls::open_verified`], on the heap-free
//!   certificate path: `der` (DER reader) → `x509` (certificate fields) → `rsa` / `signatures`
//!   (RSA and ECDSA checks) → `chain` (the chain walk and embedded-tls verifier);
//! - [`queue`]: the inline payload FIFO.

mod chain;
mod der;
mod hash;
pub mod queue;
mod rsa;
mod signatures;
pub mod tls;
mod transport;
mod uploader;
mod x509;

pub use queue::{PayloadInfo, PayloadQueue, QueueError};
pub use tls::{CertificateError, ServerTrust, TrustAnchor};
pub use transport::{Connection, ExchangeBuffers, ExchangeError, NetBuffers, Security, TlsBuffers};
pub use uploader::{
    CredentialsError, DEFAULT_IDLE_TIMEOUT_MS, DropCause, RetryCause, SendReport, Uploader,
    UploaderCounters,
};
