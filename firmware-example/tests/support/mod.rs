//! Local intake stand-ins for the firmware tests: an axum HTTP server and a rustls HTTPS server
//! with an rcgen P-256 CA, both on loopback, recording what they receive.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Received {
    /// The body as JSON, inflated first when it came with `Content-Encoding: deflate` (zlib).
    pub fn json(&self) -> serde_json::Value {
        let encoding = self
            .headers
            .get("content-encoding")
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = match encoding.as_deref() {
            None => self.body.clone(),
            Some("deflate") => {
                let mut inflated = Vec::new();
                std::io::Read::read_to_end(
                    &mut flate2::read::ZlibDecoder::new(&self.body[..]),
                    &mut inflated,
                )
                .expect("a valid zlib stream");
                inflated
            }
            Some(other) => panic!("unexpected Content-Encoding {other}"),
        };
        serde_json::from_slice(&bytes).expect("a JSON body")
    }
}

/// Points in the v2 series payloads the intake received.
pub fn series_points(received: &[Received]) -> u64 {
    received
        .iter()
        .filter(|r| r.path == "/api/v2/series")
        .map(|r| {
            let body = r.json();
            body["series"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["points"].as_array().unwrap().len() as u64)
                .sum::<u64>()
        })
        .sum()
}

/// What the server answers, in order; the last entry repeats.
#[derive(Debug, Clone)]
pub struct Script(pub Vec<(u16, &'static str)>);

#[derive(Clone)]
struct AppState {
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<Script>>,
}

/// A running loopback server.
pub struct Server {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
    _runtime: tokio::runtime::Runtime,
}

impl Server {
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

async fn intake(
    State(state): State<AppState>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    state.received.lock().unwrap().push(Received {
        path: uri.path().to_owned(),
        headers,
        body: body.to_vec(),
    });
    let mut script = state.script.lock().unwrap();
    let (status, body) = if script.0.len() > 1 {
        script.0.remove(0)
    } else {
        script.0[0]
    };
    (StatusCode::from_u16(status).unwrap(), body)
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/{*path}", post(intake))
        .with_state(state)
}

/// A small runtime of the test's own, so servers outlive any `block_on` in the test.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// Serves `app` over plain HTTP on a free port of `ip`; the server lives as long as the runtime.
pub fn serve_plain(ip: std::net::Ipv4Addr, app: Router) -> (SocketAddr, tokio::runtime::Runtime) {
    let runtime = runtime();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind((ip, 0)))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, runtime)
}

/// Plain HTTP intake on `127.0.0.1:0` answering per `script`.
pub fn http_server(script: Script) -> Server {
    http_server_on(std::net::Ipv4Addr::LOCALHOST, script)
}

/// Plain HTTP intake on a free port of `ip` answering per `script`.
pub fn http_server_on(ip: std::net::Ipv4Addr, script: Script) -> Server {
    let received = Arc::new(Mutex::new(Vec::new()));
    let state = AppState {
        received: received.clone(),
        script: Arc::new(Mutex::new(script)),
    };
    let (addr, runtime) = serve_plain(ip, router(state));
    Server {
        addr,
        received,
        _runtime: runtime,
    }
}

/// A fresh P-256 CA (with a name of its own) and a server certificate it signed for `names`
/// (sent alone).
pub struct Pki {
    pub ca_der: Vec<u8>,
    pub ca_pem: String,
    pub server_chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    pub server_key: rustls::pki_types::PrivateKeyDer<'static>,
}

pub fn pki(names: &[&str]) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, PKCS_ECDSA_P256_SHA256};
    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // Each CA gets its own name, as distinct real CAs have: a "wrong CA" is then an unknown
    // issuer, not a forgery of a trusted one.
    static CA_SERIAL: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let serial = CA_SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    ca_params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!("ddlink test CA {serial}"),
    );
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let leaf = CertificateParams::new(names)
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    Pki {
        ca_der: ca.der().to_vec(),
        ca_pem: ca.pem(),
        server_chain: vec![leaf.der().clone()],
        server_key: rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
    }
}

/// The emulator's default hierarchy (RSA-4096 root, RSA-2048 intermediate and leaf, as Datadog's
/// intake) with a leaf for `names`; the server sends leaf, intermediate and root.
pub fn rsa_pki(names: &[&str]) -> Pki {
    use ddlink_emulator::pki::{KeyType, Pki as EmulatorPki};
    let pki = EmulatorPki::generate(KeyType::Rsa, None).unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let (server_chain, key) = pki.issue(&names, &[]).unwrap();
    Pki {
        ca_der: pki.root_der().to_vec(),
        ca_pem: pki.root_pem().to_owned(),
        server_chain,
        server_key: rustls::pki_types::PrivateKeyDer::Pkcs8(key),
    }
}

/// HTTPS (TLS 1.3 only) intake on `127.0.0.1:0` with `pki`'s server certificate.
pub fn https_server(pki: &Pki, script: Script) -> Server {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(pki.server_chain.clone(), pki.server_key.clone_key())
        .unwrap();
    serve_tls(config, script)
}

/// Like [`https_server`], but the key is not checked against the leaf: with a key that is not
/// the leaf's, the server signs its handshake with a key the certificate does not name.
pub fn https_server_unchecked(pki: &Pki, script: Script) -> Server {
    #[derive(Debug)]
    struct Always(Arc<rustls::sign::CertifiedKey>);
    impl rustls::server::ResolvesServerCert for Always {
        fn resolve(
            &self,
            _: rustls::server::ClientHello<'_>,
        ) -> Option<Arc<rustls::sign::CertifiedKey>> {
            Some(self.0.clone())
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let signing_key = provider
        .key_provider
        .load_private_key(pki.server_key.clone_key())
        .unwrap();
    let certified = rustls::sign::CertifiedKey::new(pki.server_chain.clone(), signing_key);
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Always(Arc::new(certified))));
    serve_tls(config, script)
}

fn serve_tls(config: rustls::ServerConfig, script: Script) -> Server {
    use tokio_rustls::TlsAcceptor;
    let runtime = runtime();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let received = Arc::new(Mutex::new(Vec::new()));
    let state = AppState {
        received: received.clone(),
        script: Arc::new(Mutex::new(script)),
    };
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(state);
    runtime.spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let app = app.clone();
            tokio::spawn(async move {
                // A client that rejects our certificate aborts the handshake: not an error here.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    Server {
        addr,
        received,
        _runtime: runtime,
    }
}

pub mod gateway;
