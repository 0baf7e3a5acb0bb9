//! The in-process network (embassy-net device + embassy-net router, joined by
//! embassy-net-driver-channel, forwarding to loopback) carries real HTTP: reqwless POSTs from
//! the simulated device reach a local axum server, by name, with and without packet loss.

mod support;

use ddlink_firmware_example::sim::netsim::{NetSimConfig, NetSimError, run_with_network};
use futures_lite::future::block_on;
use reqwless::client::HttpClient;
use reqwless::request::{Method, RequestBuilder};
use support::{Script, http_server};

async fn post(
    tcp: &impl embedded_nal_async::TcpConnect,
    dns: &impl embedded_nal_async::Dns,
    url: &str,
    body: &[u8],
) -> Result<u16, reqwless::Error> {
    let mut client = HttpClient::new(tcp, dns);
    let mut rx = [0u8; 1024];
    let mut request = client.request(Method::POST, url).await?.body(body);
    let response = request.send(&mut rx).await?;
    Ok(response.status.0)
}

#[test]
fn post_reaches_a_loopback_server_through_embassy_net() {
    let server = http_server(Script(vec![(202, r#"{"errors":[]}"#)]));
    let url = format!(
        "http://api.datadoghq.localhost:{}/api/v2/series",
        server.port()
    );
    let config = NetSimConfig::forwarding(&[server.port()]);
    let (status, stats) = block_on(run_with_network(&config, async |tcp, dns| {
        post(tcp, dns, &url, br#"{"series":[]}"#).await
    }))
    .unwrap();

    assert_eq!(status.unwrap(), 202);
    let received = server.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].path, "/api/v2/series");
    assert_eq!(received[0].body, br#"{"series":[]}"#);
    // reqwless writes the host name without the port.
    assert_eq!(received[0].headers["host"], "api.datadoghq.localhost");
    assert!(stats.dns_answers >= 1, "{stats:?}");
    assert_eq!(stats.forwarded_connections, 1, "{stats:?}");
    assert_eq!(stats.lost, 0);
}

#[test]
fn lossy_link_still_delivers_every_request_once() {
    let server = http_server(Script(vec![(202, "{}")]));
    let url = format!(
        "http://api.datadoghq.localhost:{}/api/v2/logs",
        server.port()
    );
    let mut config = NetSimConfig::forwarding(&[server.port()]);
    config.loss_per_mille = 100;
    config.seed = 7;
    let requests = 4;
    let (statuses, stats) = block_on(run_with_network(&config, async |tcp, dns| {
        let mut statuses = Vec::new();
        for i in 0..requests {
            // DNS over UDP has no retransmission of its own beyond smoltcp's; retry like firmware.
            let mut status = post(tcp, dns, &url, format!("[{i}]").as_bytes()).await;
            for _ in 0..5 {
                if status.is_ok() {
                    break;
                }
                status = post(tcp, dns, &url, format!("[{i}]").as_bytes()).await;
            }
            statuses.push(status.unwrap());
        }
        statuses
    }))
    .unwrap();

    assert_eq!(statuses, vec![202; requests]);
    let mut bodies: Vec<Vec<u8>> = server.received().into_iter().map(|r| r.body).collect();
    bodies.dedup();
    assert_eq!(
        bodies.len(),
        requests,
        "each body arrives (TCP hides the loss)"
    );
    assert!(stats.lost > 0, "the loss model dropped packets: {stats:?}");
}

#[test]
fn names_outside_the_sandbox_do_not_resolve() {
    let config = NetSimConfig::forwarding(&[9]);
    let (result, stats) = block_on(run_with_network(&config, async |tcp, dns| {
        post(tcp, dns, "http://api.datadoghq.com/api/v2/series", b"{}").await
    }))
    .unwrap();
    assert!(matches!(result, Err(reqwless::Error::Dns)), "{result:?}");
    assert!(stats.dns_answers >= 1);
    assert_eq!(stats.forwarded_connections, 0);
}

#[test]
fn closed_host_port_is_refused() {
    // Bind then drop a listener to find a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = NetSimConfig::forwarding(&[port]);
    let url = format!("http://api.datadoghq.localhost:{port}/api/v2/series");
    let (result, stats) = block_on(run_with_network(&config, async |tcp, dns| {
        post(tcp, dns, &url, b"{}").await
    }))
    .unwrap();
    assert!(result.is_err(), "{result:?}");
    assert_eq!(stats.refused_connections, 1, "{stats:?}");
}

#[test]
fn invalid_configurations_are_errors() {
    let mut config = NetSimConfig::forwarding(&[1, 2, 3]);
    config.accept_slots_per_port = 20;
    let result = block_on(run_with_network(&config, async |_, _| ()));
    assert_eq!(result.unwrap_err(), NetSimError::TooManyListeners);
    config.accept_slots_per_port = 1;
    config.loss_per_mille = 1001;
    let result = block_on(run_with_network(&config, async |_, _| ()));
    assert_eq!(result.unwrap_err(), NetSimError::InvalidConfig);
}
