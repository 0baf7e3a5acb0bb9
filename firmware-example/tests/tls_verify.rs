//! TLS 1.3 with certificate verification (embedded-tls 0.19 used directly by `ddlink_core::net`)
//! against a local rustls server with an rcgen P-256 CA, over the host's sockets: the right CA
//! and host name work; a wrong CA or a certificate for another name is refused.

mod support;

use ddlink_core::http::{ContentEncoding, Endpoint};
use ddlink_core::net::tls::{NoClock, TLS_READ_BUFFER, TrustAnchor, open_verified};
use ddlink_core::net::{NetBuffers, RetryCause, Security, SendReport, Uploader};
use ddlink_core::provision::ApiKey;
use ddlink_core::retry::BackoffConfig;
use ddlink_core::site::Site;
use ddlink_firmware_example::sim::os::os_stack;
use embedded_nal_async::TcpConnect;
use futures_lite::future::block_on;
use rand_core::OsRng;
use reqwless::client::HttpConnection;
use reqwless::request::{Request, RequestBuilder};
use support::{Script, https_server, pki};

const HOST: &str = "api.datadoghq.localhost";

/// Opens TLS to the server and POSTs with reqwless over the verified session.
fn post_over_tls(port: u16, server_name: &str, ca_der: &[u8]) -> Result<u16, String> {
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
            TrustAnchor::from_der(ca_der),
            OsRng,
            &mut read_buffer,
            &mut write_buffer,
        )
        .await
        .map_err(|e| format!("tls: {e:?}"))?;
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
    assert_eq!(result, Err("tls: InvalidCertificate".to_string()));
    assert!(server.received().is_empty());
}

#[test]
fn certificate_for_another_name_is_refused() {
    let pki = pki(&["other.localhost"]);
    let server = https_server(&pki, Script(vec![(202, "{}")]));
    let result = post_over_tls(server.port(), HOST, &pki.ca_der);
    assert_eq!(result, Err("tls: InvalidCertificate".to_string()));
    assert!(server.received().is_empty());
}

#[test]
fn wildcard_san_matches_the_intake_host() {
    let pki = pki(&["*.datadoghq.localhost"]);
    let server = https_server(&pki, Script(vec![(202, "{}")]));
    assert_eq!(post_over_tls(server.port(), HOST, &pki.ca_der), Ok(202));
}

fn uploader_round(ca_der: &[u8], port: u16) -> (SendReport, ddlink_core::net::UploaderCounters) {
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
    let mut uploader: Uploader<'_, 2, 256> = Uploader::new(
        Security::Tls(TrustAnchor::from_der(ca_der)),
        buffers,
        BackoffConfig::default(),
    );
    let site = Site::sandbox(&format!("datadoghq.localhost:{port}")).unwrap();
    uploader
        .set_credentials(
            site,
            ApiKey::new("0123456789abcdef0123456789abcdef").unwrap(),
        )
        .unwrap();
    uploader
        .submit(
            Endpoint::SeriesV2,
            ContentEncoding::Identity,
            3,
            br#"{"series":[]}"#,
        )
        .unwrap();
    let stack = os_stack();
    let report = block_on(uploader.send_next(&stack, &stack, 0, &mut OsRng));
    (report, uploader.counters())
}

#[test]
fn uploader_delivers_over_verified_https() {
    let pki = pki(&[HOST, "http-intake.logs.datadoghq.localhost"]);
    let server = https_server(&pki, Script(vec![(202, r#"{"errors":[]}"#)]));
    let (report, counters) = uploader_round(&pki.ca_der, server.port());
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
fn uploader_keeps_the_payload_when_the_certificate_is_untrusted() {
    let pki_server = pki(&[HOST]);
    let other = pki(&[HOST]);
    let server = https_server(&pki_server, Script(vec![(202, "{}")]));
    let (report, counters) = uploader_round(&other.ca_der, server.port());
    assert!(
        matches!(
            report,
            SendReport::Retrying {
                cause: RetryCause::Network(ddlink_core::net::ExchangeError::Tls {
                    certificate: true
                }),
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
