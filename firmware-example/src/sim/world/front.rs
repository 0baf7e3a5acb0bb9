//! The intake's HTTPS front: a TLS 1.3 terminator in front of the emulator, like a load balancer
//! in front of Datadog, presenting the emulator's default certificate chain (RSA-2048 leaf,
//! RSA-2048 intermediate, RSA-4096 root, about 5 KB; see `ddlink_emulator::pki`) and signing
//! the handshake with RSA-PSS, as Datadog's intake does.
//!
//! The sandbox gateway talks plain HTTP to the emulator (a sandbox site is `http`), so the
//! emulator's port cannot also speak TLS; devices reach the intake through this front instead
//! (their connections to the emulator's port are redirected here, see [`super::portmap`]) and
//! verify its certificate against [`IntakeFront::ca_der`] exactly as they would Datadog's.
//! Connections are relayed for as long as both sides keep them (devices keep theirs alive between
//! requests). The front can be made unreachable for a while (open connections cut, new ones
//! closed at once), and counts what it saw.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use ddlink_emulator::pki::{KeyType, Pki};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, PKCS_ECDSA_P256_SHA256};
use rustls::server::ResolvesServerCertUsingSni;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// Counters of the front, for progress lines and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrontStats {
    /// TCP connections accepted.
    pub connections: u64,
    /// Connections closed at once because the intake was made unreachable.
    pub refused: u64,
    /// Open connections cut when the intake was made unreachable.
    pub cut: u64,
    /// TLS handshakes that failed (e.g. the client did not trust the certificate).
    pub failed_handshakes: u64,
    /// Connections forwarded to the emulator after a completed handshake.
    pub forwarded: u64,
}

#[derive(Debug, Default)]
struct Counters {
    connections: AtomicU64,
    refused: AtomicU64,
    cut: AtomicU64,
    failed_handshakes: AtomicU64,
    forwarded: AtomicU64,
}

/// A running front; dropping it stops accepting.
#[derive(Debug)]
pub struct IntakeFront {
    port: u16,
    ca_der: Vec<u8>,
    reachable: watch::Sender<bool>,
    counters: Arc<Counters>,
    task: JoinHandle<()>,
}

impl IntakeFront {
    /// Listens on a free loopback port (in the current tokio runtime) and forwards every
    /// completed TLS session to `127.0.0.1:upstream_port`. The leaf is for `domain` and
    /// `*.<domain>` plus every name in `host_names`, and is served for each of `host_names`.
    pub async fn start(
        upstream_port: u16,
        domain: &str,
        host_names: &[String],
    ) -> anyhow::Result<Self> {
        let (ca_der, config) = server_config(domain, host_names)?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .context("binding the intake front")?;
        let port = listener.local_addr()?.port();
        let reachable = watch::Sender::new(true);
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(accept_loop(
            listener,
            TlsAcceptor::from(Arc::new(config)),
            SocketAddr::from((Ipv4Addr::LOCALHOST, upstream_port)),
            reachable.clone(),
            counters.clone(),
        ));
        Ok(Self {
            port,
            ca_der,
            reachable,
            counters,
            task,
        })
    }

    /// The loopback port devices must be sent to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// DER of the CA that signed the front's certificates (the devices' trust anchor).
    pub fn ca_der(&self) -> &[u8] {
        &self.ca_der
    }

    /// While `false`, the intake is "down": open connections are cut and every new one is closed
    /// at once.
    pub fn set_reachable(&self, reachable: bool) {
        self.reachable.send_replace(reachable);
    }

    pub fn stats(&self) -> FrontStats {
        let c = &self.counters;
        FrontStats {
            connections: c.connections.load(Ordering::SeqCst),
            refused: c.refused.load(Ordering::SeqCst),
            cut: c.cut.load(Ordering::SeqCst),
            failed_handshakes: c.failed_handshakes.load(Ordering::SeqCst),
            forwarded: c.forwarded.load(Ordering::SeqCst),
        }
    }
}

impl Drop for IntakeFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    upstream: SocketAddr,
    reachable: watch::Sender<bool>,
    counters: Arc<Counters>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        counters.connections.fetch_add(1, Ordering::SeqCst);
        if !*reachable.borrow() {
            counters.refused.fetch_add(1, Ordering::SeqCst);
            drop(stream);
            continue;
        }
        let acceptor = acceptor.clone();
        let counters = counters.clone();
        let mut outage = reachable.subscribe();
        tokio::spawn(async move {
            let Ok(mut tls) = acceptor.accept(stream).await else {
                counters.failed_handshakes.fetch_add(1, Ordering::SeqCst);
                return;
            };
            let Ok(mut plain) = TcpStream::connect(upstream).await else {
                return;
            };
            counters.forwarded.fetch_add(1, Ordering::SeqCst);
            // Ends when either side closes or the intake goes down; errors just end the
            // connection, as a proxy would.
            let relay = async {
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                false
            };
            // Also ends the relay when the front itself is gone.
            let down = async { outage.wait_for(|reachable| !reachable).await.is_ok() };
            if futures_lite::future::or(relay, down).await {
                counters.cut.fetch_add(1, Ordering::SeqCst);
            }
        });
    }
}

/// The emulator's default (RSA) hierarchy with one intake leaf (the emulator's names for
/// `domain`); returns the root's DER and a rustls config serving the leaf for each of
/// `host_names` by SNI (TLS 1.3 only, as Datadog's intake negotiates). RSA keys are made once
/// per process.
fn server_config(
    domain: &str,
    host_names: &[String],
) -> anyhow::Result<(Vec<u8>, rustls::ServerConfig)> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let pki = Pki::generate(KeyType::Rsa, None)?;
    let mut leaf_names = ddlink_emulator::intake_leaf_names(domain);
    leaf_names.extend(
        host_names
            .iter()
            .filter(|n| !leaf_names.contains(n))
            .cloned()
            .collect::<Vec<_>>(),
    );
    let leaf = pki.certified_key(&leaf_names, &[], &provider)?;
    let mut resolver = ResolvesServerCertUsingSni::new();
    for name in host_names {
        resolver
            .add(name, (*leaf).clone())
            .with_context(|| format!("certificate for {name}"))?;
    }
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    Ok((pki.root_der().to_vec(), config))
}

/// DER of a freshly generated CA that signed nothing the world serves (a wrong trust anchor).
pub fn unrelated_ca_der() -> anyhow::Result<Vec<u8>> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "unrelated CA");
    Ok(params.self_signed(&key)?.der().to_vec())
}
