//! HTTPS: a generated P-256 CA and one leaf per emulated host, picked by SNI.
//!
//! Embedded clients (embedded-tls) check only the first three SAN DNS names, need the
//! chain within 4096 bytes and speak TLS 1.3 with P-256: so each leaf carries at most three
//! names, the chain sent is the leaf alone, and only TLS 1.3 is offered.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::hosts;

/// File name of the CA certificate (PEM) inside [`crate::TlsConfig::dir`].
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
    Certificate(rcgen::Error),
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

impl From<rcgen::Error> for TlsError {
    fn from(e: rcgen::Error) -> Self {
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

fn leaf(
    names: &[&str],
    ips: &[IpAddr],
    issuer: &Issuer<'_, KeyPair>,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())?;
    params
        .subject_alt_names
        .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
    params.distinguished_name.push(
        DnType::CommonName,
        names.first().copied().unwrap_or("localhost"),
    );
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(&key, issuer)?;
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let signing_key = rustls::crypto::ring::sign::any_ecdsa_type(&der)?;
    Ok(Arc::new(CertifiedKey::new(
        vec![cert.der().clone()],
        signing_key,
    )))
}

/// Generates the CA and leaves for `domain` and writes the CA to `dir/ca.pem`.
pub(crate) fn setup(domain: &str, dir: &Path) -> Result<TlsSetup, TlsError> {
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params
        .distinguished_name
        .push(DnType::OrganizationName, "ddlink");
    ca_params.distinguished_name.push(
        DnType::CommonName,
        format!("ddlink Datadog emulator CA ({domain})"),
    );
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut by_name = HashMap::new();
    for prefix in [
        hosts::APP,
        hosts::API,
        hosts::LOGS_INTAKE,
        hosts::EVENT_INTAKE,
    ] {
        let name = format!("{prefix}.{domain}");
        by_name.insert(name.clone(), leaf(&[&name], &[], &issuer)?);
    }
    let wildcard = leaf(&[&format!("*.{domain}")], &[], &issuer)?;
    let fallback = leaf(
        &["localhost"],
        &[
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ],
        &issuer,
    )?;
    let resolver = HostCerts {
        by_name,
        wildcard,
        domain: domain.to_owned(),
        fallback,
    };

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    server_config.alpn_protocols = vec![b"http/1.1".to_vec()];

    let ca_pem = ca_cert.pem();
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
