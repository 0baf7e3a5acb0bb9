//! The admin page in headless Chromium through chromedriver (`fantoccini`).
//!
//! Gated by `DDLINK_TEST_BROWSER=1` (CI sets it and installs Debian's `chromium` and
//! `chromium-driver`). With the switch set, a missing browser or driver fails the test.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ddlink_gateway::sandbox::{self, SandboxOptions};
use fantoccini::{ClientBuilder, Locator};
use secrecy::ExposeSecret;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn admin_page_login_state_and_csrf_in_chromium() {
    if std::env::var("DDLINK_TEST_BROWSER").as_deref() != Ok("1") {
        eprintln!("browser test not run: set DDLINK_TEST_BROWSER=1 (CI does)");
        return;
    }
    for path in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            std::path::Path::new(path).exists(),
            "DDLINK_TEST_BROWSER=1 but {path} is missing: apt-get install chromium chromium-driver"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let world = sandbox::start(SandboxOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        state_dir: dir.path().join("state"),
    })
    .await
    .unwrap();
    world.connect().await.unwrap();
    let last4 = world.emulator().api_keys()[0].last4.clone();

    let port = free_port();
    let _driver = Driver(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver"),
    );
    let profile = tempfile::tempdir().unwrap();
    let capabilities = serde_json::json!({
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=390,844",
                format!("--user-data-dir={}", profile.path().display()),
            ]
        }
    });
    let serde_json::Value::Object(capabilities) = capabilities else {
        unreachable!()
    };
    // chromedriver speaks plain HTTP on loopback: no TLS connector needed.
    let mut builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
    builder.capabilities(capabilities);
    let mut browser = None;
    // chromedriver needs a moment to listen; Chromium's cold start is slow on a busy machine.
    for _ in 0..60 {
        match builder.connect(&format!("http://127.0.0.1:{port}")).await {
            Ok(client) => {
                browser = Some(client);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    let browser = browser.expect("could not start a Chromium session through chromedriver");

    let result = async {
        browser.goto(world.gateway_url().as_str()).await?;
        assert!(browser.current_url().await?.path().starts_with("/login"));
        browser
            .find(Locator::Css("input[name=password]"))
            .await?
            .send_keys(world.admin_token().expose_secret())
            .await?;
        browser.find(Locator::Css("form button[type=submit]")).await?.click().await?;
        // The click starts a navigation; wait for the admin page rather than racing it.
        let table = browser
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Id("connections"))
            .await?;
        let text = table.text().await?;
        assert!(text.contains("Sandbox Org"), "{text}");
        assert!(text.contains(&last4), "{text}");
        assert!(text.contains("active"), "{text}");
        let overflow = browser
            .execute("return document.documentElement.scrollWidth <= window.innerWidth + 1;", vec![])
            .await?;
        assert_eq!(overflow, serde_json::Value::Bool(true), "admin page overflows a phone-sized window");

        // A form posted without the CSRF token is refused and the session stays.
        browser
            .execute(
                "const f = document.createElement('form'); f.method = 'post'; f.action = '/logout'; \
                 document.body.appendChild(f); f.submit();",
                vec![],
            )
            .await?;
        let mut source = String::new();
        for _ in 0..40 {
            source = browser.source().await?;
            if source.contains("CSRF token") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert!(source.contains("CSRF token"), "{source}");
        browser.goto(world.gateway_url().as_str()).await?;
        assert!(browser.find(Locator::Id("connections")).await.is_ok(), "still signed in");
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    let _ = browser.close().await;
    world.shutdown().await;
    result.unwrap();
}
