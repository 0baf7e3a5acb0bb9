//! The `ddlink-emulator` binary: first stdout line, flags, graceful exit on SIGTERM.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

const BINARY: &str = env!("CARGO_BIN_EXE_ddlink-emulator");

#[tokio::test]
async fn binary_serves_until_sigterm() {
    let mut child = Command::new(BINARY)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--domain",
            "sandbox.localhost",
            "--api-key",
            "binkey",
            "--client",
            "cid:csecret:http://localhost:8080/oauth/callback:http://localhost:8080/oauth/onboard",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a first line").expect("UTF-8");
    let addr: SocketAddr = first
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .parse()
        .expect("HOST:PORT");
    let domain = lines.next().expect("a domain line").expect("UTF-8");
    assert_eq!(domain, format!("domain sandbox.localhost:{}", addr.port()));
    let site = lines.next().expect("a site line").expect("UTF-8");
    assert!(
        site.starts_with("site http://app.sandbox.localhost:"),
        "{site}"
    );
    let token_line = lines.next().expect("a token line").expect("UTF-8");
    let token = token_line
        .strip_prefix("test-api-token ")
        .unwrap_or_else(|| panic!("unexpected token line {token_line:?}"))
        .to_owned();

    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .resolve("api.sandbox.localhost", addr)
        .resolve("app.sandbox.localhost", addr)
        .build()
        .expect("client");
    let validate = client
        .get(format!(
            "http://api.sandbox.localhost:{}/api/v1/validate",
            addr.port()
        ))
        .header("DD-API-KEY", "binkey")
        .send()
        .await
        .expect("answered");
    assert_eq!(validate.status(), 200);
    let connect = client
        .get(format!(
            "http://app.sandbox.localhost:{}/tile/connect?client_id=cid",
            addr.port()
        ))
        .send()
        .await
        .expect("answered");
    assert_eq!(connect.status(), 302);
    let target = connect.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        target.starts_with("http://localhost:8080/oauth/onboard?site="),
        "{target}"
    );
    // The test API answers with the printed token only.
    let keys_url = format!("http://{addr}/_emulator/keys");
    let refused = client.get(&keys_url).send().await.expect("answered");
    assert_eq!(refused.status(), 401);
    let keys: serde_json::Value = client
        .get(&keys_url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    assert_eq!(keys[0]["key"], "binkey");

    let pid = child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = child.wait().expect("the binary exits");
    assert!(status.success(), "graceful exit on SIGTERM: {status:?}");
}

#[test]
fn binary_rejects_a_malformed_client_flag() {
    let output = Command::new(BINARY)
        .args(["--client", "id-only"])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("ID:SECRET:REDIRECT_URI:ONBOARDING_URL"),
        "{stderr}"
    );
}
