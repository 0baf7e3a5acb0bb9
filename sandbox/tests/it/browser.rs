//! The admin page in headless Chromium through chromedriver (`fantoccini`).
//!
//! Gated by `DDLINK_TEST_BROWSER=1` (CI sets it and installs Debian's `chromium` and
//! `chromium-driver`). With the switch set, a missing browser or driver fails the test.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ddlink_sandbox::{SandboxHandle, SandboxOptions};
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

/// A headless Chromium session through chromedriver; the driver process and the browser
/// profile live as long as this value.
struct Chromium {
    client: fantoccini::Client,
    _driver: Driver,
    _profile: tempfile::TempDir,
}

/// `None` (with a note) unless `DDLINK_TEST_BROWSER=1`; with it, a missing browser fails.
async fn chromium() -> Option<Chromium> {
    if std::env::var("DDLINK_TEST_BROWSER").as_deref() != Ok("1") {
        eprintln!("browser test not run: set DDLINK_TEST_BROWSER=1 (CI does)");
        return None;
    }
    for path in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            std::path::Path::new(path).exists(),
            "DDLINK_TEST_BROWSER=1 but {path} is missing: apt-get install chromium chromium-driver"
        );
    }
    let port = free_port();
    let driver = Driver(
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
    // chromedriver needs a moment to listen; Chromium's cold start is slow on a busy machine.
    for _ in 0..60 {
        match builder.connect(&format!("http://127.0.0.1:{port}")).await {
            Ok(client) => {
                return Some(Chromium {
                    client,
                    _driver: driver,
                    _profile: profile,
                });
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    panic!("could not start a Chromium session through chromedriver");
}

async fn sandbox_world(dir: &std::path::Path) -> SandboxHandle {
    ddlink_sandbox::start(SandboxOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        state_dir: dir.join("state"),
        tenants: 1,
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn admin_page_login_state_and_csrf_in_chromium() {
    let Some(chromium) = chromium().await else {
        return;
    };
    let browser = &chromium.client;
    let dir = tempfile::tempdir().unwrap();
    let world = sandbox_world(dir.path()).await;
    world.connect().await.unwrap();
    let last4 = world.emulator().api_keys()[0].last4.clone();

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
    let _ = browser.clone().close().await;
    world.shutdown().await;
    result.unwrap();
}

/// The README's quick start in a real browser: the emulator's tile → the gateway's sign-in →
/// Datadog's consent → the callback, with no session beforehand.
#[tokio::test]
async fn connect_from_the_tile_in_chromium() {
    let Some(chromium) = chromium().await else {
        return;
    };
    let browser = &chromium.client;
    let dir = tempfile::tempdir().unwrap();
    let world = sandbox_world(dir.path()).await;
    let wait = |locator| {
        let browser = browser.clone();
        async move {
            browser
                .wait()
                .at_most(Duration::from_secs(30))
                .for_element(locator)
                .await
        }
    };

    let result = async {
        browser.goto(world.tile_url()).await?;
        browser
            .find(Locator::XPath(
                "//button[normalize-space()='Connect Accounts']",
            ))
            .await?
            .click()
            .await?;
        // Not signed in: the onboarding URL sends the browser to the gateway's sign-in first.
        wait(Locator::Css("input[name=password]"))
            .await?
            .send_keys(world.admin_token().expose_secret())
            .await?;
        browser
            .find(Locator::Css("form button[type=submit]"))
            .await?
            .click()
            .await?;
        wait(Locator::Css("button[value=authorize]"))
            .await?
            .click()
            .await?;
        let heading = wait(Locator::XPath("//h1[contains(., 'Connected to Datadog')]")).await?;
        assert!(heading.is_displayed().await?);
        let page = browser.source().await?;
        assert!(page.contains("Sandbox Org"), "{page}");
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    let _ = browser.clone().close().await;
    let keys = world.emulator().api_keys().len();
    world.shutdown().await;
    result.unwrap();
    assert_eq!(keys, 1, "the callback created the org's API key");
}
