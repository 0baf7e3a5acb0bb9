//! HTTPS: clients trusting the written CA connect to every host; others fail. Leaves are
//! small enough for embedded-tls (one leaf, at most 3 SANs, well under 4096 bytes).

use std::sync::Arc;

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
        tls: Some(TlsConfig { dir: dir.clone() }),
        ..common::config("https://127.0.0.1:9")
    };
    let handle = common::start(config).await;
    assert_eq!(handle.scheme(), "https");
    let ca_path = handle.ca_path().expect("CA written");
    assert_eq!(ca_path, dir.join(ddlink_emulator::CA_FILE_NAME));
    let pem = std::fs::read(ca_path).expect("CA file readable");
    assert_eq!(pem, handle.ca_pem().expect("CA").as_bytes());

    let trusting = common::client_builder(&handle)
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("PEM"))
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

#[tokio::test]
async fn leaves_fit_embedded_clients() {
    let dir = tls_dir("leaves");
    let handle = common::start(EmulatorConfig {
        tls: Some(TlsConfig { dir: dir.clone() }),
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
        let chain = session.peer_certificates().expect("certificates");
        assert_eq!(chain.len(), 1, "{host}: leaf only");
        assert!(
            chain[0].len() < 1024,
            "{host}: leaf is {} bytes",
            chain[0].len()
        );
        assert_eq!(
            session.negotiated_cipher_suite().map(|s| s.suite()),
            Some(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256)
        );
    }
    handle.shutdown().await;
    std::fs::remove_dir_all(dir).expect("cleanup");
}
