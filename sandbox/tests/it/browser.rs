//! The admin page in headless Chromium through chromedriver (`fantoccini`).
//!
//! Gated by `DDLINK_TEST_BROWSER=1` (CI sets it and installs Debian's `chromium` and
//! `chromium-driver`). With the switch set, a missing browser or driver fails the test.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ddlink_sandbox::{SandboxHandle, SandboxOptions};
use fantoccini::{ClientBuilder, Locator};
use secrecy::{ExposeSecret, SecretString};

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

async fn sandbox_world(dir: &std::path::Path, tenants: usize) -> SandboxHandle {
    ddlink_sandbox::start(SandboxOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        state_dir: dir.join("state"),
        tenants,
        database: None,
        fleet_lease_secs: None,
    })
    .await
    .unwrap()
}

/// Waits up to 30 s for an element (a click starts a navigation: wait for its page rather
/// than racing it).
async fn wait_for(
    browser: &fantoccini::Client,
    locator: Locator<'_>,
) -> Result<fantoccini::elements::Element, fantoccini::error::CmdError> {
    browser
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(locator)
        .await
}

/// From an org's tile with no gateway session: Connect Accounts → the gateway's sign-in (as
/// `user`, or the operator with the admin token alone) → Datadog's consent → Authorize → the
/// callback's page, which must name `org_name`.
async fn connect_from_tile(
    browser: &fantoccini::Client,
    tile_url: &str,
    user: Option<&str>,
    password: &SecretString,
    org_name: &str,
) -> Result<(), fantoccini::error::CmdError> {
    browser.goto(tile_url).await?;
    browser
        .find(Locator::XPath(
            "//button[normalize-space()='Connect Accounts']",
        ))
        .await?
        .click()
        .await?;
    // Not signed in: the onboarding URL sends the browser to the gateway's sign-in first.
    let password_field = wait_for(browser, Locator::Css("input[name=password]")).await?;
    if let Some(user) = user {
        browser
            .find(Locator::Css("input[name=user]"))
            .await?
            .send_keys(user)
            .await?;
    }
    password_field.send_keys(password.expose_secret()).await?;
    browser
        .find(Locator::Css("form button[type=submit]"))
        .await?
        .click()
        .await?;
    wait_for(browser, Locator::Css("button[value=authorize]"))
        .await?
        .click()
        .await?;
    let heading = wait_for(
        browser,
        Locator::XPath("//h1[contains(., 'Connected to Datadog')]"),
    )
    .await?;
    assert!(heading.is_displayed().await?);
    let page = browser.source().await?;
    assert!(page.contains(org_name), "{org_name}: {page}");
    Ok(())
}

#[tokio::test]
async fn admin_page_login_state_and_csrf_in_chromium() {
    let Some(chromium) = chromium().await else {
        return;
    };
    let browser = &chromium.client;
    let dir = tempfile::tempdir().unwrap();
    let world = sandbox_world(dir.path(), 1).await;
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
        let table = wait_for(browser, Locator::Id("connections")).await?;
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
    let world = sandbox_world(dir.path(), 1).await;
    let result = connect_from_tile(
        browser,
        world.tile_url(),
        None,
        world.admin_token(),
        "Sandbox Org",
    )
    .await;
    let _ = browser.clone().close().await;
    let keys = world.emulator().api_keys().len();
    world.shutdown().await;
    result.unwrap();
    assert_eq!(keys, 1, "the callback created the org's API key");
}

/// The one device the two-tenant test provisions in `tenant`'s fleet (names that are not
/// substrings of each other, so a page showing the other's is caught).
fn device_of(tenant: &ddlink_sandbox::SandboxTenant) -> String {
    format!("sensor-{}", tenant.id.as_str())
}

/// The texts of every `selector` element on the current page.
async fn texts(
    browser: &fantoccini::Client,
    selector: &str,
) -> Result<Vec<String>, fantoccini::error::CmdError> {
    let mut texts = Vec::new();
    for element in browser.find_all(Locator::Css(selector)).await? {
        texts.push(element.text().await?);
    }
    Ok(texts)
}

/// A hosted gateway with two customers: each tenant's admin, in a browser profile of their
/// own, connects their own org from its tile (signing in on the way), binds their fleet on the
/// admin page, and then sees only their own connection, fleet and device; the operator (the
/// first tenant's admin) also sees the other tenant's health, never its devices.
#[tokio::test]
async fn two_tenants_each_connect_their_own_org_and_see_only_it_in_chromium() {
    let Some(first) = chromium().await else {
        return;
    };
    let second = chromium().await.expect("a second Chromium session");
    let dir = tempfile::tempdir().unwrap();
    let world = sandbox_world(dir.path(), 2).await;
    let tenants = world.tenants().to_vec();
    let browsers = [&first.client, &second.client];

    let result = async {
        for (tenant, browser) in tenants.iter().zip(browsers) {
            connect_from_tile(
                browser,
                &world.emulator().org_tile_url(&tenant.org.id).unwrap(),
                tenant.admin_user.as_deref(),
                &tenant.admin_token,
                &tenant.org.name,
            )
            .await?;

            // The admin page offers to bind the tenant's still unbound fleet to the new
            // connection.
            browser.goto(world.gateway_url().as_str()).await?;
            wait_for(browser, Locator::Css("#bind-unbound button[type=submit]"))
                .await?
                .click()
                .await?;
            wait_for(
                browser,
                Locator::Css("#fleets tr[data-connection]:not([data-connection=''])"),
            )
            .await?;
        }

        // One device per fleet; each gets the key of its own tenant's org.
        let emulator_keys = world.emulator().api_keys();
        for tenant in &tenants {
            let device = device_of(tenant);
            let key = crate::common::provision_device(
                world.gateway_url(),
                &tenant.fleet,
                tenant.fleet_key_hex.expose_secret(),
                &device,
            )
            .await;
            let owner = emulator_keys
                .iter()
                .find(|k| k.key == key)
                .map(|k| &k.org_id);
            assert_eq!(
                owner,
                Some(&tenant.org.id),
                "{device} got another org's key"
            );
        }

        for (i, (tenant, browser)) in tenants.iter().zip(browsers).enumerate() {
            let other = &tenants[1 - i];
            browser.goto(world.gateway_url().as_str()).await?;
            wait_for(browser, Locator::Css("#devices")).await?;
            let connections = texts(browser, "#connections tr[data-state] td:first-child").await?;
            assert_eq!(connections, [tenant.org.name.as_str()], "{}", tenant.fleet);
            let states = texts(browser, "#connections tr[data-state] td:nth-child(5)").await?;
            assert_eq!(states, ["active"], "{}", tenant.fleet);
            let fleets = texts(browser, "#fleets tr[data-connection] td:first-child").await?;
            assert_eq!(fleets, [tenant.fleet.as_str()], "{}", tenant.fleet);
            let devices = texts(browser, "#devices tr[data-state] td:first-child").await?;
            assert_eq!(
                devices,
                [format!("{}/{}", tenant.fleet, device_of(tenant))],
                "{}",
                tenant.fleet
            );
            let page = browser.source().await?;
            assert!(
                !page.contains(&device_of(other)),
                "{} sees {}'s device",
                tenant.fleet,
                other.fleet
            );
            // The operator's overview lists every tenant's health; a tenant admin has none.
            let overview = texts(browser, "#tenants tr[data-tenant] td:first-child").await?;
            if tenant.admin_user.is_none() {
                let names: Vec<String> = tenants.iter().map(|t| t.id.as_str().to_owned()).collect();
                assert_eq!(overview, names, "the operator's overview");
            } else {
                assert!(
                    overview.is_empty(),
                    "a tenant admin sees the operator's overview"
                );
                assert!(
                    !page.contains(&other.org.name),
                    "{} sees {}",
                    tenant.fleet,
                    other.org.name
                );
            }
        }
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    for browser in browsers {
        let _ = browser.clone().close().await;
    }
    let mut key_orgs: Vec<String> = world
        .emulator()
        .api_keys()
        .into_iter()
        .map(|k| k.org_id)
        .collect();
    world.shutdown().await;
    result.unwrap();
    key_orgs.sort();
    let mut expected: Vec<String> = tenants.iter().map(|t| t.org.id.clone()).collect();
    expected.sort();
    assert_eq!(key_orgs, expected, "one marketplace key per org");
}

/// Polls the admin page (reloading) until a connection row has `data-state=state`; returns
/// that row's text.
async fn connection_row_in_state(
    browser: &fantoccini::Client,
    world: &SandboxHandle,
    state: &str,
) -> Result<String, fantoccini::error::CmdError> {
    let selector = format!("#connections tr[data-state='{state}']");
    for _ in 0..60 {
        browser.goto(world.gateway_url().as_str()).await?;
        if let Ok(row) = browser.find(Locator::Css(&selector)).await {
            return row.text().await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("no connection reached {state} on the admin page within 30 s");
}

/// The key's life as the admin page tells it: an uninstall from the tile, then (after a
/// reconnect) a key revoked on Datadog's API Keys page, each shown with what happened and what
/// to do; a reconnect makes the connection active again.
#[tokio::test]
async fn admin_page_shows_uninstalled_and_key_revoked_with_their_fix_in_chromium() {
    let Some(chromium) = chromium().await else {
        return;
    };
    let browser = &chromium.client;
    let dir = tempfile::tempdir().unwrap();
    let world = sandbox_world(dir.path(), 1).await;
    world.connect().await.unwrap();
    let org = world.tenants()[0].org.clone();

    let result = async {
        browser.goto(world.gateway_url().as_str()).await?;
        wait_for(browser, Locator::Css("input[name=password]"))
            .await?
            .send_keys(world.admin_token().expose_secret())
            .await?;
        browser
            .find(Locator::Css("form button[type=submit]"))
            .await?
            .click()
            .await?;
        wait_for(
            browser,
            Locator::Css("#connections tr[data-state='active']"),
        )
        .await?;

        assert_eq!(
            world.emulator().uninstall(&org.id, world.client_id()),
            Some(1)
        );
        let row = connection_row_in_state(browser, &world, "uninstalled").await?;
        assert!(row.contains("reconnect from the Datadog tile"), "{row}");
        assert!(row.contains("Devices get no key"), "{row}");

        world
            .connect()
            .await
            .expect("reconnecting after the uninstall");
        connection_row_in_state(browser, &world, "active").await?;
        let keys: Vec<_> = world
            .emulator()
            .api_keys()
            .into_iter()
            .filter(|k| !k.revoked)
            .collect();
        assert_eq!(keys.len(), 1, "the reconnect kept the org's one key");
        assert!(world.emulator().revoke_api_key(&keys[0].id));
        let row = connection_row_in_state(browser, &world, "key_revoked").await?;
        assert!(row.contains("revoked on Datadog's API Keys page"), "{row}");
        assert!(row.contains("revoke \"OAuth Client API Key\""), "{row}");

        world
            .connect()
            .await
            .expect("reconnecting after the revocation");
        let row = connection_row_in_state(browser, &world, "active").await?;
        let new_key = world
            .emulator()
            .api_keys()
            .into_iter()
            .find(|k| !k.revoked)
            .unwrap();
        assert!(row.contains(&new_key.last4), "the new key shows: {row}");
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    let _ = browser.clone().close().await;
    world.shutdown().await;
    result.unwrap();
}
