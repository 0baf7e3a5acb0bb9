//! The certificate hierarchy the emulator's HTTPS presents, shaped by default like Datadog's
//! intake chain: an RSA-4096 root (self-signed, sha384WithRSAEncryption, like USERTrust RSA),
//! an RSA-2048 intermediate it signed (sha384WithRSAEncryption, like Sectigo's DV CA) and
//! RSA-2048 leaves the intermediate signs (sha256WithRSAEncryption). The server sends leaf,
//! intermediate and root (as Datadog's intake sends leaf, intermediate and a root); devices
//! hold the root as trust anchor. TLS 1.3 then signs the handshake with RSA-PSS.
//!
//! Size: a real intake leaf carries Certificate Transparency SCTs, Authority Information Access
//! and policy extensions, so the leaves here carry the same extensions with *placeholder*
//! content of realistic length (random log ids and signature bytes: they are not valid SCTs and
//! nothing checks them), bringing the served chain to about 5 KB, as Datadog's is.
//!
//! [`KeyType::Ecdsa`] keeps the small P-256 hierarchy (one CA, leaves sent alone).
//!
//! RSA key generation takes seconds, so keys are made once per process and, when a directory
//! is given, kept there (`rsa-*.pk8`, PKCS#8 DER, mode 0600) and reused by later starts.
//! Certificates are re-issued at every start (fast); the root keeps its key and name, so a
//! device holding an older copy of the root still verifies new chains.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SignatureAlgorithm,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;

/// Which hierarchy to generate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KeyType {
    /// RSA-4096 root, RSA-2048 intermediate and leaves (Datadog-like; the default).
    #[default]
    Rsa,
    /// One P-256 CA signing P-256 leaves, sent alone.
    Ecdsa,
}

impl std::str::FromStr for KeyType {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "rsa" => Ok(Self::Rsa),
            "ecdsa" => Ok(Self::Ecdsa),
            other => Err(format!(
                "unknown key type {other:?} (expected rsa or ecdsa)"
            )),
        }
    }
}

/// Why the hierarchy could not be made.
#[derive(Debug)]
pub enum PkiError {
    KeyGeneration(String),
    Certificate(rcgen::Error),
    Rustls(rustls::Error),
    KeyCache {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

impl fmt::Display for PkiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::KeyGeneration(e) => write!(f, "generating an RSA key failed: {e}"),
            Self::Certificate(e) => write!(f, "issuing a certificate failed: {e}"),
            Self::Rustls(e) => write!(f, "loading a key into rustls failed: {e}"),
            Self::KeyCache { path, source } => {
                write!(f, "key cache {} failed: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for PkiError {}

impl From<rcgen::Error> for PkiError {
    fn from(e: rcgen::Error) -> Self {
        Self::Certificate(e)
    }
}

impl From<rustls::Error> for PkiError {
    fn from(e: rustls::Error) -> Self {
        Self::Rustls(e)
    }
}

/// A root (the trust anchor), the certificates sent above each leaf, and the key leaves use.
pub struct Pki {
    root_der: Vec<u8>,
    root_pem: String,
    /// Certificates sent after the leaf (intermediate and root for RSA; none for ECDSA).
    served_issuers: Vec<CertificateDer<'static>>,
    leaf_issuer: Issuer<'static, KeyPair>,
    leaf_key: KeyPair,
    key_type: KeyType,
}

impl fmt::Debug for Pki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pki")
            .field("key_type", &self.key_type)
            .field("root_der_len", &self.root_der.len())
            .finish_non_exhaustive()
    }
}

/// RSA keys of one process: root (4096), intermediate (2048), leaf (2048), PKCS#8 DER.
static PROCESS_RSA_KEYS: OnceLock<[Vec<u8>; 3]> = OnceLock::new();

const RSA_KEY_FILES: [(&str, usize); 3] = [
    ("rsa-root.pk8", 4096),
    ("rsa-intermediate.pk8", 2048),
    ("rsa-leaf.pk8", 2048),
];

impl Pki {
    /// A fresh hierarchy of `key_type`; RSA keys come from `key_dir` when it holds them,
    /// else from this process's keys (generated on first use) and are then stored there.
    pub fn generate(key_type: KeyType, key_dir: Option<&Path>) -> Result<Self, PkiError> {
        match key_type {
            KeyType::Rsa => Self::rsa(key_dir),
            KeyType::Ecdsa => Self::ecdsa(),
        }
    }

    /// The root certificate (what devices trust), DER.
    pub fn root_der(&self) -> &[u8] {
        &self.root_der
    }

    /// The root certificate, PEM.
    pub fn root_pem(&self) -> &str {
        &self.root_pem
    }

    /// Which hierarchy this is.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// A leaf for `names` (SAN dNSNames, the first also the CN) and `ips`, with the chain the
    /// server sends, ready for rustls (`provider` loads the key).
    pub fn certified_key(
        &self,
        names: &[String],
        ips: &[IpAddr],
        provider: &CryptoProvider,
    ) -> Result<Arc<CertifiedKey>, PkiError> {
        let (chain, key) = self.issue(names, ips)?;
        let signing_key = provider
            .key_provider
            .load_private_key(PrivateKeyDer::Pkcs8(key))?;
        Ok(Arc::new(CertifiedKey::new(chain, signing_key)))
    }

    /// A leaf for `names` and `ips`: the chain the server sends (leaf first) and the leaf's
    /// private key.
    pub fn issue(
        &self,
        names: &[String],
        ips: &[IpAddr],
    ) -> Result<(Vec<CertificateDer<'static>>, PrivatePkcs8KeyDer<'static>), PkiError> {
        let mut params = CertificateParams::new(names.to_vec())?;
        params
            .subject_alt_names
            .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().map_or("localhost", String::as_str),
        );
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        if self.key_type == KeyType::Rsa {
            params.not_before = rcgen::date_time_ymd(2025, 1, 1);
            params.not_after = rcgen::date_time_ymd(2035, 1, 1);
            params.custom_extensions = realistic_leaf_extensions();
        }
        let leaf = params.signed_by(&self.leaf_key, &self.leaf_issuer)?;
        let mut chain = vec![leaf.der().clone()];
        chain.extend(self.served_issuers.iter().cloned());
        Ok((
            chain,
            PrivatePkcs8KeyDer::from(self.leaf_key.serialize_der()),
        ))
    }

    fn ecdsa() -> Result<Self, PkiError> {
        let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params
            .distinguished_name
            .push(DnType::OrganizationName, "ddlink");
        params
            .distinguished_name
            .push(DnType::CommonName, "ddlink Datadog emulator ECDSA CA");
        let ca = params.self_signed(&ca_key)?;
        Ok(Self {
            root_der: ca.der().to_vec(),
            root_pem: ca.pem(),
            served_issuers: Vec::new(),
            leaf_issuer: Issuer::new(params, ca_key),
            leaf_key: KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?,
            key_type: KeyType::Ecdsa,
        })
    }

    fn rsa(key_dir: Option<&Path>) -> Result<Self, PkiError> {
        let [root_key, intermediate_key, leaf_key] = rsa_keys(key_dir)?;
        // Roots and intermediates sign with SHA-384, leaves are signed with SHA-256 (as Sectigo).
        let root_key = rsa_key_pair(&root_key, &rcgen::PKCS_RSA_SHA384)?;
        let intermediate_key = rsa_key_pair(&intermediate_key, &rcgen::PKCS_RSA_SHA256)?;
        let leaf_key = rsa_key_pair(&leaf_key, &rcgen::PKCS_RSA_SHA256)?;

        let mut root_params = CertificateParams::new(Vec::<String>::new())?;
        root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        root_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        for (kind, value) in [
            (DnType::CountryName, "US"),
            (DnType::StateOrProvinceName, "Sandbox"),
            (DnType::LocalityName, "Emulated"),
            (DnType::OrganizationName, "ddlink Emulated Trust Network"),
            (
                DnType::CommonName,
                "ddlink Emulated RSA Certification Authority",
            ),
        ] {
            root_params.distinguished_name.push(kind, value);
        }
        root_params.not_before = rcgen::date_time_ymd(2010, 2, 1);
        root_params.not_after = rcgen::date_time_ymd(2038, 1, 18);
        let root = root_params.self_signed(&root_key)?;
        let root_issuer = Issuer::new(root_params, root_key);

        let mut intermediate_params = CertificateParams::new(Vec::<String>::new())?;
        intermediate_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        intermediate_params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
        ];
        intermediate_params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        for (kind, value) in [
            (DnType::CountryName, "GB"),
            (DnType::StateOrProvinceName, "Sandbox"),
            (DnType::LocalityName, "Emulated"),
            (DnType::OrganizationName, "ddlink Emulated CA Limited"),
            (
                DnType::CommonName,
                "ddlink Emulated RSA Domain Validation Secure Server CA",
            ),
        ] {
            intermediate_params.distinguished_name.push(kind, value);
        }
        intermediate_params.not_before = rcgen::date_time_ymd(2018, 11, 2);
        intermediate_params.not_after = rcgen::date_time_ymd(2030, 12, 31);
        intermediate_params.use_authority_key_identifier_extension = true;
        intermediate_params.crl_distribution_points = vec![rcgen::CrlDistributionPoint {
            uris: vec![
                "http://crl.emulated-trust.invalid/EmulatedRSACertificationAuthority.crl".into(),
            ],
        }];
        intermediate_params.custom_extensions = vec![authority_info_access(
            "http://crt.emulated-trust.invalid/EmulatedRSAAddTrustCA.crt",
            "http://ocsp.emulated-trust.invalid",
        )];
        let intermediate = intermediate_params.signed_by(&intermediate_key, &root_issuer)?;

        Ok(Self {
            root_der: root.der().to_vec(),
            root_pem: root.pem(),
            served_issuers: vec![intermediate.der().clone(), root.der().clone()],
            leaf_issuer: Issuer::new(intermediate_params, intermediate_key),
            leaf_key,
            key_type: KeyType::Rsa,
        })
    }
}

fn rsa_key_pair(pkcs8: &[u8], algorithm: &'static SignatureAlgorithm) -> Result<KeyPair, PkiError> {
    Ok(KeyPair::from_pkcs8_der_and_sign_algo(
        &PrivatePkcs8KeyDer::from(pkcs8),
        algorithm,
    )?)
}

/// The three RSA keys: from `key_dir` if all are there, else this process's (made once), then
/// written to `key_dir`.
fn rsa_keys(key_dir: Option<&Path>) -> Result<[Vec<u8>; 3], PkiError> {
    if let Some(dir) = key_dir {
        let stored: Option<Vec<Vec<u8>>> = RSA_KEY_FILES
            .iter()
            .map(|(name, _)| std::fs::read(dir.join(name)).ok())
            .collect();
        if let Some(Ok(keys)) = stored.map(<[Vec<u8>; 3]>::try_from) {
            return Ok(keys);
        }
    }
    let keys = match PROCESS_RSA_KEYS.get() {
        Some(keys) => keys.clone(),
        None => {
            let mut generated = Vec::with_capacity(3);
            for (_, bits) in RSA_KEY_FILES {
                generated.push(generate_rsa(bits)?);
            }
            let generated = <[Vec<u8>; 3]>::try_from(generated)
                .map_err(|_| PkiError::KeyGeneration("three keys expected".into()))?;
            // Another thread may have won the race: use whichever was stored first.
            PROCESS_RSA_KEYS.get_or_init(|| generated).clone()
        }
    };
    if let Some(dir) = key_dir {
        for ((name, _), key) in RSA_KEY_FILES.iter().zip(&keys) {
            write_private(&dir.join(name), key)?;
        }
    }
    Ok(keys)
}

fn generate_rsa(bits: usize) -> Result<Vec<u8>, PkiError> {
    use rsa::pkcs8::EncodePrivateKey as _;
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, bits)
        .map_err(|e| PkiError::KeyGeneration(e.to_string()))?;
    let der = key
        .to_pkcs8_der()
        .map_err(|e| PkiError::KeyGeneration(e.to_string()))?;
    Ok(der.as_bytes().to_vec())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), PkiError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let error = |source| PkiError::KeyCache {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(error)?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(bytes))
        .map_err(error)
}

/// DER header (tag + definite length) for `len` content bytes.
fn der_header(tag: u8, len: usize) -> Vec<u8> {
    let mut header = vec![tag];
    match len {
        0..=0x7f => header.push(len as u8),
        0x80..=0xff => header.extend([0x81, len as u8]),
        _ => header.extend([0x82, (len >> 8) as u8, len as u8]),
    }
    header
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = der_header(tag, content.len());
    out.extend_from_slice(content);
    out
}

/// `authorityInfoAccess` with a caIssuers and an OCSP URI (1.3.6.1.5.5.7.1.1).
fn authority_info_access(ca_issuers: &str, ocsp: &str) -> CustomExtension {
    const CA_ISSUERS: &[u8] = &[0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02];
    const OCSP: &[u8] = &[0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01];
    let access = |method: &[u8], uri: &str| {
        let mut description = method.to_vec();
        description.extend(der(0x86, uri.as_bytes()));
        der(0x30, &description)
    };
    let mut list = access(CA_ISSUERS, ca_issuers);
    list.extend(access(OCSP, ocsp));
    CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], der(0x30, &list))
}

/// Extensions a public intake leaf carries besides names and usages: AIA, certificate
/// policies (DV + a CPS URI) and a Certificate Transparency SCT list of three entries with
/// placeholder (random) log ids and signatures of the real sizes.
fn realistic_leaf_extensions() -> Vec<CustomExtension> {
    let aia = authority_info_access(
        "http://crt.emulated-trust.invalid/EmulatedRSADomainValidationSecureServerCA.crt",
        "http://ocsp.emulated-trust.invalid",
    );
    // certificatePolicies: a CA policy with a CPS qualifier, then domain-validated (2.23.140.1.2.1).
    const CPS_QUALIFIER: &[u8] = &[0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x02, 0x01];
    let mut qualifier = CPS_QUALIFIER.to_vec();
    qualifier.extend(der(0x16, b"https://cps.emulated-trust.invalid/CPS"));
    let mut ca_policy = der(
        0x06,
        &[
            0x2b, 0x06, 0x01, 0x04, 0x01, 0xb2, 0x31, 0x01, 0x02, 0x02, 0x07,
        ],
    );
    ca_policy.extend(der(0x30, &der(0x30, &qualifier)));
    let mut policies = der(0x30, &ca_policy);
    policies.extend(der(0x30, &der(0x06, &[0x67, 0x81, 0x0c, 0x01, 0x02, 0x01])));
    let policies = CustomExtension::from_oid_content(&[2, 5, 29, 32], der(0x30, &policies));

    // SignedCertificateTimestampList (RFC 6962 3.3): u16 length, then u16-length-prefixed SCTs
    // of version, 32-byte log id, timestamp, no extensions, ECDSA-SHA256 signature.
    let mut scts = Vec::new();
    for _ in 0..3 {
        let mut sct = vec![0u8];
        sct.extend(random_bytes(32));
        sct.extend(1_767_225_600_000u64.to_be_bytes());
        sct.extend([0, 0, 4, 3]);
        let signature = random_bytes(71);
        sct.extend((signature.len() as u16).to_be_bytes());
        sct.extend(signature);
        scts.extend((sct.len() as u16).to_be_bytes());
        scts.extend(sct);
    }
    let mut list = (scts.len() as u16).to_be_bytes().to_vec();
    list.extend(scts);
    let sct_list =
        CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 11129, 2, 4, 2], der(0x04, &list));
    vec![aia, policies, sct_list]
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    // Placeholder content only; if the OS RNG fails the bytes simply stay zero.
    let _ = getrandom::fill(&mut bytes);
    bytes
}
