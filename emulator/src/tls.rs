//! HTTPS: the emulator's certificates (see [`crate::pki`]: by default an RSA chain shaped like
//! Datadog's, or a P-256 one), one leaf per emulated host, picked by SNI.
//!
//! Only TLS 1.3 is offered, as embedded clients need. With an RSA leaf rustls signs the handshake
//! with RSA-PSS, choosing the first of SHA-512, SHA-384, SHA-256 the client offers (ddlink devices
//! offer all three and verify each).

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::hosts;
use crate::pki::{KeyType, Pki, PkiError};

/// File name of the trust anchor (the root certificate, PEM) inside [`crate::TlsConfig::dir`].
pub const CA_FILE_NAME: &str = "ca.pem";

#[derive(Debug)]
pub(crate) struct TlsSetup {
    pub(crate) server_config: Arc<rustls::ServerConfig>,
    pub(crate) ca_pem: String,
    pub(crate) ca_path: PathBuf,
}

/// Why HTTPS could not be set up.
#[derive(Debug)]
pub enum TlsError {
    Certificate(PkiError),
    Rustls(rustls::Error),
    WriteCa {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Certificate(e) => write!(f, "generating certificates failed: {e}"),
            Self::Rustls(e) => write!(f, "configuring TLS failed: {e}"),
            Self::WriteCa { path, source } => {
                write!(f, "writing the CA to {} failed: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for TlsError {}

impl From<PkiError> for TlsError {
    fn from(e: PkiError) -> Self {
        Self::Certificate(e)
    }
}

impl From<rustls::Error> for TlsError {
    fn from(e: rustls::Error) -> Self {
        Self::Rustls(e)
    }
}

/// Picks the leaf for the SNI name; no SNI (an IP address) gets the `localhost` leaf.
struct HostCerts {
    by_name: HashMap<String, Arc<CertifiedKey>>,
    /// `*.<domain>`: custom subdomains of the web app.
    wildcard: Arc<CertifiedKey>,
    domain: String,
    fallback: Arc<CertifiedKey>,
}

impl fmt::Debug for HostCerts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostCerts")
            .field("hosts", &self.by_name.keys())
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for HostCerts {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let Some(name) = client_hello.server_name().map(str::to_ascii_lowercase) else {
            return Some(self.fallback.clone());
        };
        if let Some(key) = self.by_name.get(&name) {
            return Some(key.clone());
        }
        let is_single_label_below = name
            .strip_suffix(&self.domain)
            .and_then(|p| p.strip_suffix('.'))
            .is_some_and(|label| !label.is_empty() && !label.contains('.'));
        Some(if is_single_label_below {
            self.wildcard.clone()
        } else {
            self.fallback.clone()
        })
    }
}

/// The names of the intake leaf: the bare domain, `*.<domain>` and every emulated host (as
/// Datadog's intake certificates list their hosts next to the wildcards).
pub fn intake_leaf_names(domain: &str) -> Vec<String> {
    let mut names = vec![format!("*.{domain}"), domain.to_owned()];
    names.extend(
        [
            hosts::APP,
            hosts::API,
            hosts::LOGS_INTAKE,
            hosts::EVENT_INTAKE,
        ]
        .iter()
        .map(|prefix| format!("{prefix}.{domain}")),
    );
    names
}

/// Generates the certificates for `domain` (RSA keys cached in `dir`) and writes the root to
/// `dir/ca.pem`.
pub(crate) fn setup(domain: &str, dir: &Path, key_type: KeyType) -> Result<TlsSetup, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let pki = Pki::generate(key_type, Some(dir))?;
    let intake = pki.certified_key(&intake_leaf_names(domain), &[], &provider)?;
    let mut by_name = HashMap::new();
    for prefix in [
        hosts::APP,
        hosts::API,
        hosts::LOGS_INTAKE,
        hosts::EVENT_INTAKE,
    ] {
        by_name.insert(format!("{prefix}.{domain}"), intake.clone());
    }
    let wildcard = intake;
    let fallback = pki.certified_key(
        &["localhost".to_owned()],
        &[
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ],
        &provider,
    )?;
    let resolver = HostCerts {
        by_name,
        wildcard,
        domain: domain.to_owned(),
        fallback,
    };

    let mut server_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    server_config.alpn_protocols = vec![b"http/1.1".to_vec()];

    let ca_pem = pki.root_pem().to_owned();
    std::fs::create_dir_all(dir).map_err(|source| TlsError::WriteCa {
        path: dir.to_owned(),
        source,
    })?;
    let ca_path = dir.join(CA_FILE_NAME);
    std::fs::write(&ca_path, &ca_pem).map_err(|source| TlsError::WriteCa {
        path: ca_path.clone(),
        source,
    })?;
    Ok(TlsSetup {
        server_config: Arc::new(server_config),
        ca_pem,
        ca_path,
    })
}
