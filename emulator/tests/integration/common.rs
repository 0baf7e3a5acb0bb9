//! Starting an emulator and an HTTP client that resolves its host names to it.

use std::net::SocketAddr;

use ddlink_emulator::{Emulator, EmulatorConfig, EmulatorHandle, OAuthClient};

pub const API_KEY: &str = "0123456789abcdef0123456789abcdef";
pub const CLIENT_ID: &str = "4f1c9a0e-client";
pub const CLIENT_SECRET: &str = "client-secret-value";

/// A configuration with one pre-registered key and one client whose redirect and
/// onboarding URLs point at `partner` (a stub partner service).
pub fn config(partner: &str) -> EmulatorConfig {
    let mut client = OAuthClient::new(
        CLIENT_ID,
        CLIENT_SECRET,
        format!("{partner}/oauth/callback"),
        format!("{partner}/oauth/onboard"),
    );
    client.scopes = vec!["api_keys_write".into(), "metrics_read".into()];
    EmulatorConfig {
        clients: vec![client],
        api_keys: vec![API_KEY.into()],
        ..EmulatorConfig::default()
    }
}

pub async fn start(config: EmulatorConfig) -> EmulatorHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    Emulator::start(config, listener)
        .await
        .expect("the emulator starts")
}

/// A client that never follows redirects and resolves the emulator's hosts (and the
/// custom subdomain `acme.`) to its listener.
pub fn client(handle: &EmulatorHandle) -> reqwest::Client {
    client_builder(handle).build().expect("client builds")
}

pub fn client_builder(handle: &EmulatorHandle) -> reqwest::ClientBuilder {
    // reqwest comes without a bundled crypto provider (an error means one is installed).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let addr: SocketAddr = handle.local_addr();
    let mut builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    for name in handle.host_names() {
        builder = builder.resolve(&name, addr);
    }
    builder.resolve(&format!("acme.{}", handle.domain_name()), addr)
}

/// A request to the `/_emulator/` test API (`path` is what follows it), carrying the
/// emulator's bearer token.
pub fn test_api(
    client: &reqwest::Client,
    handle: &EmulatorHandle,
    method: reqwest::Method,
    path: &str,
) -> reqwest::RequestBuilder {
    client
        .request(method, format!("{}/_emulator/{path}", handle.base_url()))
        .bearer_auth(handle.test_api_token())
}

/// The JSON body of `GET /_emulator/<path>` (with the token).
pub async fn test_api_get(
    client: &reqwest::Client,
    handle: &EmulatorHandle,
    path: &str,
) -> serde_json::Value {
    test_api(client, handle, reqwest::Method::GET, path)
        .send()
        .await
        .expect("the test API answers")
        .json()
        .await
        .expect("JSON")
}

pub fn content_type(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .map(|v| v.to_str().expect("ASCII content type").to_owned())
        .unwrap_or_default()
}

pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(reqwest::header::LOCATION)
        .unwrap_or_else(|| panic!("a Location header on a {} answer", response.status()))
        .to_str()
        .expect("ASCII location")
        .to_owned()
}

/// Query parameters of a URL.
pub fn query_of(url: &str) -> Vec<(String, String)> {
    let parsed = reqwest::Url::parse(url).expect("a valid URL");
    parsed
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub fn param(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}
