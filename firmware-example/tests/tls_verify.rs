//! TLS 1.3 with certificate verification (embedded-tls 0.19 driven by `ddlink_core::net`'s own
//! heap-free verifier) against local rustls servers over the host's sockets: the emulator's
//! Datadog-shaped RSA chain (RSA-PSS handshake signature) and a P-256 CA. The right anchor and
//! host name work; a wrong anchor, another name or a forged handshake signature are refused,
//! each with its own error.

mod support;

use ddlink_core::http::{ContentEncoding, Endpoint};
use ddlink_core::net::tls::{
    CertificateError, NoClock, OpenError, ServerTrust, TLS_READ_BUFFER, TrustAnchor, open_verified,
};
use ddlink_core::net::{ExchangeError, NetBuffers, RetryCause, Security, SendReport, Uploader};
use ddlink_core::provision::ApiKey;
use ddlink_core::retry::BackoffConfig;
use ddlink_core::site::Site;
use ddlink_firmware_example::sim::os::os_stack;
use embedded_nal_async::TcpConnect;
use futures_lite::future::block_on;
use rand_core::OsRng;
use reqwless::client::HttpConnection;
use reqwless::request::{Request, RequestBuilder};
use support::{Script, https_server, pki, rsa_pki};

const HOST: &str = "api.datadoghq.localhost";

/// Opens TLS to the server and POSTs with reqwless over the verified session.
fn post_over_tls(port: u16, server_name: &str, ca_der: &[u8]) -> Result<u16, String> {
    post_over_tls_trusting(port, server_name, &[ca_der])
}

fn post_over_tls_trusting(port: u16, server_name: &str, anchors: &[&[u8]]) -> Result<u16, String> {
    let anchors: Vec<TrustAnchor<'_>> = anchors.iter().map(|d| TrustAnchor::from_der(d)).collect();
    block_on(async {
        let stack = os_stack();
        let socket = stack
            .connect(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let mut read_buffer = vec![0u8; TLS_READ_BUFFER];
        let mut write_buffer = vec![0u8; 4096];
        let tls = open_verified::<_, _, NoClock>(
            socket,
            server_name,
            ServerTrust::new(&anchors),
            OsRng,
            &mut read_buffer,
            &mut write_buffer,
        )
        .await
        .map_err(|e| match e {
            OpenError::Certificate(reason) => format!("certificate: {reason:?}"),
            OpenError::Tls(error) => format!("tls: {error:?}"),
        })?;
        let mut connection = HttpConnection::Plain(tls);
        let request = Request::post("/api/v2/series")
            .host(server_name)
            .body(&b"{\"series\":[]}"[..])
            .build();
        let mut rx = [0u8; 1024];
        let response = connection
            .send(request, &mut rx)
            .await
            .map_err(|e| format!("http: {e:?}"))?;
        Ok(response.status.0)
    })
}

#[test]
fn right_ca_and_host_name_are_accepted() {
    let pki = pki(&[HOST]);
    let server = https_server(&pki, Script(vec![(202, r#"{"errors":[]}"#)]));
    assert_eq!(post_over_tls(server.port(), HOST, &pki.ca_der), Ok(202));
    let received = server.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].body, b"{\"series\":[]}");
}

#[test]
fn wrong_ca_is_refused() {
    let pki_server = pki(&[HOST]);
    let other = pki(&[HOST]);
    let server = https_server(&pki_server, Script(vec![(202, "{}")]));
    let result = post_over_tls(server.port(), HOST, &other.ca_der);
    assert_eq!(result, Err("certificate: UnknownIssuer".to_string()));
    assert!(server.received().is_empty());
}

#[test]
fn certificate_for_another_name_is_refused() {
    let pki = pki(&["other.localhost"]);
    let server = https_server(&pki, Script(vec![(202, "{}")]));
    let result = post_over_tls(server.port(), HOST, &pki.ca_der);
    assert_eq!(result, Err("certificate: NameMismatch".to_string()));
    assert!(server.received().is_empty());
}

#[test]
fn wildcard_san_matches_the_intake_host() {
    let pki = pki(&["*.datadoghq.localhost"]);
    let server = https_server(&pki, Script(vec![(202, "{}")]));
    assert_eq!(post_over_tls(server.port(), HOST, &pki.ca_der), Ok(202));
}

/// Queues `payloads` series payloads of 3 points and sends them all on one kept-alive connection;
/// returns the last report.
fn uploader_round(
    ca_der: &[u8],
    port: u16,
    payloads: usize,
) -> (SendReport, ddlink_core::net::UploaderCounters) {
    let anchors = [TrustAnchor::from_der(ca_der)];
    let mut tls_read = vec![0u8; TLS_READ_BUFFER];
    let mut tls_write = vec![0u8; 4096];
    let mut head = [0u8; 512];
    let mut response = [0u8; 1024];
    let buffers = NetBuffers {
        tls_read: &mut tls_read,
        tls_write: &mut tls_write,
        head: &mut head,
        response: &mut response,
    };
    let (exchange, mut tls) = buffers.split();
    let mut uploader: Uploader<'_, 4, 256> = Uploader::new(
        Security::Tls(ServerTrust::new(&anchors)),
        exchange,
        BackoffConfig::default(),
    );
    let site = Site::sandbox(&format!("datadoghq.localhost:{port}")).unwrap();
    uploader
        .set_credentials(
            site,
            ApiKey::new("0123456789abcdef0123456789abcdef").unwrap(),
        )
        .unwrap();
    for _ in 0..payloads {
        uploader
            .submit(
                Endpoint::SeriesV2,
                ContentEncoding::Identity,
                3,
                br#"{"series":[]}"#,
            )
            .unwrap();
    }
    let stack = os_stack();
    let mut connection = tls.connection();
    let mut report = SendReport::Idle;
    for _ in 0..payloads {
        report = block_on(uploader.send_next(&mut connection, &stack, &stack, 0, &mut OsRng));
    }
    (report, uploader.counters())
}

#[test]
fn uploader_delivers_over_verified_https() {
    let pki = pki(&[HOST, "http-intake.logs.datadoghq.localhost"]);
    let server = https_server(&pki, Script(vec![(202, r#"{"errors":[]}"#)]));
    let (report, counters) = uploader_round(&pki.ca_der, server.port(), 1);
    assert!(
        matches!(report, SendReport::Accepted(info) if info.items == 3),
        "{report:?}"
    );
    assert_eq!(
        (counters.sent, counters.accepted, counters.items_accepted),
        (1, 1, 3)
    );
    let received = server.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].path, "/api/v2/series");
    assert_eq!(
        received[0].headers["dd-api-key"],
        "0123456789abcdef0123456789abcdef"
    );
    assert_eq!(
        received[0].headers["host"],
        format!("{HOST}:{}", server.port())
    );
}

#[test]
fn uploader_sends_several_requests_in_one_tls_session() {
    let pki = pki(&[HOST]);
    let server = https_server(&pki, Script(vec![(202, r#"{"errors":[]}"#)]));
    let (report, counters) = uploader_round(&pki.ca_der, server.port(), 3);
    assert!(matches!(report, SendReport::Accepted(_)), "{report:?}");
    assert_eq!(
        (
            counters.sent,
            counters.accepted,
            counters.connections_opened
        ),
        (3, 3, 1),
        "{counters:?}"
    );
    assert_eq!(counters.stale_retries, 0);
    assert_eq!(server.received().len(), 3);
}

#[test]
fn uploader_keeps_the_payload_when_the_certificate_is_untrusted() {
    let pki_server = pki(&[HOST]);
    let other = pki(&[HOST]);
    let server = https_server(&pki_server, Script(vec![(202, "{}")]));
    let (report, counters) = uploader_round(&other.ca_der, server.port(), 1);
    assert!(
        matches!(
            report,
            SendReport::Retrying {
                cause: RetryCause::Network(ExchangeError::Certificate(
                    CertificateError::UnknownIssuer
                )),
                ..
            }
        ),
        "{report:?}"
    );
    assert_eq!(
        (counters.accepted, counters.retried, counters.dropped()),
        (0, 1, 0)
    );
    assert!(server.received().is_empty());
}

#[test]
fn datadog_shaped_rsa_chain_is_accepted_with_either_of_two_anchors() {
    let pki = rsa_pki(&[HOST, "*.datadoghq.localhost", "datadoghq.localhost"]);
    let served: usize = pki.server_chain.iter().map(|c| c.len()).sum();
    assert!(
        (4_000..=6_144).contains(&served),
        "the served chain is {served} bytes"
    );
    let server = https_server(&pki, Script(vec![(202, "{}"), (202, "{}")]));
    assert_eq!(post_over_tls(server.port(), HOST, &pki.ca_der), Ok(202));
    // Root rotation: the device holds an unrelated root first, the right one second.
    let unrelated = support::pki(&[HOST]);
    assert_eq!(
        post_over_tls_trusting(server.port(), HOST, &[&unrelated.ca_der, &pki.ca_der]),
        Ok(202)
    );
    assert_eq!(server.received().len(), 2);
}

#[test]
fn rsa_chain_with_the_wrong_anchor_or_name_is_refused() {
    let pki = rsa_pki(&[HOST]);
    let server = https_server(&pki, Script(vec![(202, "{}")]));
    let other = support::pki(&[HOST]);
    assert_eq!(
        post_over_tls(server.port(), HOST, &other.ca_der),
        Err("certificate: UnknownIssuer".to_string())
    );
    assert_eq!(
        post_over_tls(server.port(), "logs.datadoghq.localhost", &pki.ca_der),
        Err("certificate: NameMismatch".to_string())
    );
    assert!(server.received().is_empty());
}

#[test]
fn a_handshake_signed_with_another_key_is_refused_as_bad_signature() {
    // The server presents a valid chain but signs the handshake with the key of another leaf
    // (two fresh P-256 keys): what a server holding only the public certificate would do.
    // (Forged RSA-PSS signatures are covered by ddlink-core's known-answer tests.)
    let genuine = pki(&[HOST]);
    let impostor = pki(&[HOST]);
    let forged = support::Pki {
        ca_der: genuine.ca_der.clone(),
        ca_pem: genuine.ca_pem.clone(),
        server_chain: genuine.server_chain.clone(),
        server_key: impostor.server_key.clone_key(),
    };
    let server = support::https_server_unchecked(&forged, Script(vec![(202, "{}")]));
    assert_eq!(
        post_over_tls(server.port(), HOST, &genuine.ca_der),
        Err("certificate: BadSignature".to_string())
    );
    assert!(server.received().is_empty());
}
