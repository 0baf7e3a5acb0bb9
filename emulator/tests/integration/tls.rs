//! HTTPS: clients trusting the written root connect to every host; others fail. By default the
//! chain is shaped like Datadog's (RSA leaf, intermediate and root, 4.5–6 KB, keys cached in the
//! TLS directory); `KeyType::Ecdsa` keeps one small P-256 leaf.

use std::sync::Arc;

use ddlink_emulator::pki::KeyType;
use ddlink_emulator::{EmulatorConfig, TlsConfig};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};

use crate::common::{self, API_KEY};

fn tls_dir(test: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("ddlink-emulator-{test}-{}", std::process::id()))
}

#[tokio::test]
async fn clients_trusting_the_ca_connect_and_others_fail() {
    let dir = tls_dir("trust");
    let config = EmulatorConfig {
        tls: Some(TlsConfig::new(dir.clone())),
        ..common::config("https://127.0.0.1:9")
    };
    let handle = common::start(config).await;
    assert_eq!(handle.scheme(), "https");
    let ca_path = handle.ca_path().expect("CA written");
    assert_eq!(ca_path, dir.join(ddlink_emulator::CA_FILE_NAME));
    let pem = std::fs::read(ca_path).expect("CA file readable");
    assert_eq!(pem, handle.ca_pem().expect("CA").as_bytes());

    let trusting = common::client_builder(&handle)
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).expect("PEM")])
        .build()
        .expect("client");
    for url in [
        format!("{}/api/v1/validate", handle.api_url()),
        format!("{}/tile", handle.app_url()),
        format!("{}/tile", handle.app_url().replace("://app.", "://acme.")),
    ] {
        let response = trusting
            .get(&url)
            .header("DD-API-KEY", API_KEY)
            .send()
            .await
            .expect("TLS handshake with the CA");
        assert_eq!(response.status(), 200, "{url}");
    }
    let logs = trusting
        .post(format!("{}/api/v2/logs", handle.logs_url()))
        .header("DD-API-KEY", API_KEY)
        .body(r#"[{"message":"hello"}]"#)
        .send()
        .await
        .expect("TLS to the logs host");
    assert_eq!(logs.status(), 202);

    let untrusting = common::client(&handle);
    let error = untrusting
        .get(format!("{}/api/v1/validate", handle.api_url()))
        .send()
        .await;
    assert!(error.is_err(), "a client without the CA must not connect");
    handle.shutdown().await;
    std::fs::remove_dir_all(dir).expect("cleanup");
}

/// Certificate chains an embedded client (TLS 1.3, AES-128-GCM, P-256) receives, per host.
async fn served_chains(key_type: KeyType, dir: &std::path::Path) -> Vec<Vec<Vec<u8>>> {
    let handle = common::start(EmulatorConfig {
        tls: Some(TlsConfig {
            dir: dir.to_owned(),
            key_type,
        }),
        ..EmulatorConfig::default()
    })
    .await;
    let ca =
        CertificateDer::from_pem_slice(handle.ca_pem().expect("CA").as_bytes()).expect("CA PEM");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).expect("CA accepted");
    // What embedded-tls offers: TLS 1.3, TLS_AES_128_GCM_SHA256, P-256.
    let provider = Arc::new(rustls::crypto::CryptoProvider {
        cipher_suites: vec![rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256],
        kx_groups: vec![rustls::crypto::ring::kx_group::SECP256R1],
        ..rustls::crypto::ring::default_provider()
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let mut chains = Vec::new();
    for host in handle.host_names() {
        let tcp = tokio::net::TcpStream::connect(handle.local_addr())
            .await
            .expect("connect");
        let name = ServerName::try_from(host.clone()).expect("server name");
        let tls = connector
            .connect(name, tcp)
            .await
            .unwrap_or_else(|e| panic!("{host}: {e}"));
        let (_, session) = tls.get_ref();
        assert_eq!(
            session.negotiated_cipher_suite().map(|s| s.suite()),
            Some(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256)
        );
        let chain = session.peer_certificates().expect("certificates");
        chains.push(chain.iter().map(|c| c.to_vec()).collect());
    }
    handle.shutdown().await;
    chains
}

/// DER contents of the sha384WithRSAEncryption and rsaEncryption OIDs.
const SHA384_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c];
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn the_default_chain_is_shaped_like_datadogs_and_keys_are_cached() {
    let dir = tls_dir("rsa");
    let chains = served_chains(KeyType::Rsa, &dir).await;
    for chain in &chains {
        assert_eq!(chain.len(), 3, "leaf, intermediate, root");
        let size: usize = chain.iter().map(Vec::len).sum();
        assert!((4_500..=6_000).contains(&size), "chain is {size} bytes");
        assert!(chain.iter().all(|c| contains(c, RSA_ENCRYPTION)));
        assert!(contains(&chain[1], SHA384_WITH_RSA) && contains(&chain[2], SHA384_WITH_RSA));
    }
    for file in ["rsa-root.pk8", "rsa-intermediate.pk8", "rsa-leaf.pk8"] {
        assert!(dir.join(file).is_file(), "{file} cached");
    }
    // A restart reuses the cached keys: the root's public key (after its OID) is the same.
    let root_key = |root: &[u8]| {
        let at = root
            .windows(RSA_ENCRYPTION.len())
            .position(|w| w == RSA_ENCRYPTION)
            .expect("RSA key");
        root[at..at + 500].to_vec()
    };
    let again = served_chains(KeyType::Rsa, &dir).await;
    assert_eq!(root_key(&again[0][2]), root_key(&chains[0][2]));
    std::fs::remove_dir_all(dir).expect("cleanup");
}

#[tokio::test]
async fn the_ecdsa_chain_is_one_small_leaf() {
    let dir = tls_dir("ecdsa");
    for chain in served_chains(KeyType::Ecdsa, &dir).await {
        assert_eq!(chain.len(), 1, "leaf only");
        assert!(chain[0].len() < 1024, "leaf is {} bytes", chain[0].len());
        assert!(!contains(&chain[0], RSA_ENCRYPTION));
    }
    std::fs::remove_dir_all(dir).expect("cleanup");
}
