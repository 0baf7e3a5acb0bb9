//! The OAuth handshake driven over HTTP like a browser and a partner service would, and
//! every documented error path.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};
use base64::Engine as _;
use ddlink_emulator::{Decision, EmulatorHandle, OAuthClient, consent_id_from_page};
use serde_json::Value;
use sha2::Digest as _;

use crate::common::{self, CLIENT_ID, CLIENT_SECRET, content_type, location, param, query_of};

pub(crate) const VERIFIER: &str = "a-code-verifier-that-is-long-enough-0123456789_abcdefghij";
const STATE: &str = "csrf-state-123";

pub(crate) fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()))
}

/// A stub partner: onboarding redirects to `<site>/oauth2/v1/authorize`, the callback
/// remembers its query.
#[derive(Clone)]
pub(crate) struct Partner {
    base: String,
    pub(crate) callbacks: Arc<Mutex<Vec<Params>>>,
}

type Params = Vec<(String, String)>;

async fn onboard(State(p): State<Partner>, Query(q): Query<Params>) -> impl IntoResponse {
    let site = param(&q, "site").expect("site on the onboarding URL");
    assert!(
        param(&q, "domain").is_some(),
        "domain on the onboarding URL"
    );
    let redirect = format!("{}/oauth/callback", p.base);
    let query = serde_urlencoded::to_string([
        ("client_id", CLIENT_ID),
        ("redirect_uri", redirect.as_str()),
        ("response_type", "code"),
        ("code_challenge", challenge(VERIFIER).as_str()),
        ("code_challenge_method", "S256"),
        ("state", STATE),
        ("scope", "api_keys_write"),
    ])
    .expect("encodes");
    Redirect::to(&format!("{site}/oauth2/v1/authorize?{query}"))
}

async fn callback(State(p): State<Partner>, Query(q): Query<Params>) -> &'static str {
    p.callbacks.lock().expect("lock").push(q);
    "You may now close this tab"
}

pub(crate) async fn start_partner() -> (String, Partner) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let partner = Partner {
        base: base.clone(),
        callbacks: Arc::default(),
    };
    let app = axum::Router::new()
        .route("/oauth/onboard", axum::routing::get(onboard))
        .route("/oauth/callback", axum::routing::get(callback))
        .with_state(partner.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.expect("partner serves") });
    (base, partner)
}

/// Authorize URL built by hand, for the error-path tests.
fn authorize_url(
    handle: &EmulatorHandle,
    partner: &str,
    overrides: &[(&str, Option<&str>)],
) -> String {
    let redirect = format!("{partner}/oauth/callback");
    let challenge = challenge(VERIFIER);
    let mut params: Vec<(&str, Option<&str>)> = vec![
        ("client_id", Some(CLIENT_ID)),
        ("redirect_uri", Some(&redirect)),
        ("response_type", Some("code")),
        ("code_challenge", Some(&challenge)),
        ("code_challenge_method", Some("S256")),
        ("state", Some(STATE)),
    ];
    for (name, value) in overrides {
        match params.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = *value,
            None => params.push((name, *value)),
        }
    }
    let present: Vec<(&str, &str)> = params
        .iter()
        .filter_map(|(n, v)| v.map(|v| (*n, v)))
        .collect();
    format!(
        "{}/oauth2/v1/authorize?{}",
        handle.app_url(),
        serde_urlencoded::to_string(present).expect("encodes")
    )
}

/// The first org's user approves or denies on the consent page at `url`; returns the
/// redirect target.
pub(crate) async fn consent(handle: &EmulatorHandle, url: &str, decision: Decision) -> String {
    let org = &handle.orgs()[0];
    handle
        .headless_browser(&org.id, None)
        .expect("a browser")
        .decide(url, decision)
        .await
        .expect("the consent page redirects")
}

pub(crate) async fn token(
    client: &reqwest::Client,
    handle: &EmulatorHandle,
    form: &impl serde::Serialize,
) -> (u16, String, Value) {
    let response = client
        .post(format!("{}/oauth2/v1/token", handle.api_url()))
        .form(form)
        .send()
        .await
        .expect("token answered");
    let status = response.status().as_u16();
    let ct = content_type(&response);
    let body = response.json().await.expect("JSON body");
    (status, ct, body)
}

pub(crate) async fn code_for(handle: &EmulatorHandle, partner: &str) -> String {
    let target = consent(
        handle,
        &authorize_url(handle, partner, &[]),
        Decision::Authorize,
    )
    .await;
    param(&query_of(&target), "code").expect("a code")
}

pub(crate) fn code_form<'a>(
    code: &'a str,
    redirect: &'a str,
    verifier: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("code", code),
        ("redirect_uri", redirect),
        ("code_verifier", verifier),
    ]
}

#[tokio::test]
async fn full_flow_from_tile_to_submitted_series() {
    let (partner_base, partner) = start_partner().await;
    let handle = common::start(common::config(&partner_base)).await;
    let client = common::client(&handle);

    // Tile → Connect Accounts → onboarding URL with site and domain.
    let tile = client
        .get(format!("{}/tile", handle.app_url()))
        .send()
        .await
        .expect("tile");
    assert_eq!(tile.status(), 200);
    let html = tile.text().await.expect("html");
    assert!(html.contains("Connect Accounts") && html.contains(CLIENT_ID));
    let connect = client
        .get(format!(
            "{}/tile/connect?client_id={CLIENT_ID}",
            handle.app_url()
        ))
        .send()
        .await
        .expect("connect");
    assert_eq!(connect.status(), 302);
    let onboarding = location(&connect);
    assert!(
        onboarding.starts_with(&format!("{partner_base}/oauth/onboard?")),
        "{onboarding}"
    );
    let q = query_of(&onboarding);
    assert_eq!(param(&q, "site"), Some(handle.app_url()));
    assert_eq!(param(&q, "domain").as_deref(), Some(handle.domain()));

    // The consent page names the org and the scopes.
    let page = client
        .get(authorize_url(
            &handle,
            &partner_base,
            &[("scope", Some("api_keys_write"))],
        ))
        .send()
        .await
        .expect("consent page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("Sandbox Org") && page.contains("api_keys_write"),
        "{page}"
    );

    // The user's browser: tile → partner onboarding → authorize on the site → consent →
    // callback.
    let browser = handle
        .headless_browser(&handle.orgs()[0].id, None)
        .expect("a browser");
    let callback = browser
        .connect(CLIENT_ID)
        .await
        .expect("the flow completes");
    assert_eq!(callback.status, 200);
    assert_eq!(callback.body, "You may now close this tab");
    let params = partner.callbacks.lock().expect("lock")[0].clone();
    assert_eq!(param(&params, "state").as_deref(), Some(STATE));
    assert_eq!(param(&params, "domain").as_deref(), Some(handle.domain()));
    assert_eq!(param(&params, "site"), Some(handle.app_url()));
    assert_eq!(
        param(&params, "dd_org_name").as_deref(),
        Some("Sandbox Org")
    );
    assert!(param(&params, "dd_oid").is_some_and(|o| o.len() == 36));
    let code = param(&params, "code").expect("code");

    // Token exchange.
    let redirect = format!("{partner_base}/oauth/callback");
    let (status, ct, body) = token(&client, &handle, &code_form(&code, &redirect, VERIFIER)).await;
    assert_eq!((status, ct.as_str()), (200, "application/json"), "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "api_keys_write");
    let access = body["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();
    let refresh = body["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();

    // Marketplace key, once.
    let create = || {
        client
            .post(format!("{}/api/v2/api_keys/marketplace", handle.api_url()))
            .bearer_auth(&access)
            .send()
    };
    let created = create().await.expect("key answered");
    assert_eq!(created.status(), 201);
    assert_eq!(content_type(&created), "application/json");
    let key_body: Value = created.json().await.expect("JSON:API");
    assert_eq!(key_body["data"]["type"], "api_keys");
    let key = key_body["data"]["attributes"]["key"]
        .as_str()
        .expect("key")
        .to_owned();
    assert_eq!(key.len(), 32);
    assert_eq!(key_body["data"]["attributes"]["last4"], key[28..]);
    let key_id = key_body["data"]["id"].as_str().expect("id").to_owned();
    let again = create().await.expect("second key answered");
    assert_eq!(again.status(), 409);
    assert_eq!(
        again.text().await.expect("body"),
        r#"{"errors":["An API key with this name already exists"]}"#
    );

    // Submit with the key; visible in the test API with the key's id.
    let now = handle
        .now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("epoch")
        .as_secs();
    let series = serde_json::json!({"series":[{"metric":"ddlink.test","type":3,"points":[{"timestamp":now,"value":1.5}],"resources":[{"name":"dev-1","type":"host"}],"tags":["fleet:a"]}]});
    let submitted = client
        .post(format!("{}/api/v2/series", handle.api_url()))
        .header("DD-API-KEY", &key)
        .json(&series)
        .send()
        .await
        .expect("series answered");
    assert_eq!(submitted.status(), 202);
    let received: Value = common::test_api_get(&client, &handle, "received/series").await;
    assert_eq!(received[0]["api_key_id"], key_id.as_str());
    assert_eq!(received[0]["metric"], "ddlink.test");
    assert_eq!(received[0]["metric_type"], "gauge");
    assert_eq!(received[0]["host"], "dev-1");
    assert_eq!(received[0]["points"][0]["value"], 1.5);
    let connections: Value = common::test_api_get(&client, &handle, "connections").await;
    assert_eq!(connections[0]["client_id"], CLIENT_ID);

    // Refresh rotates; the old refresh token is spent; expiry follows the clock.
    let refresh_form = |token: &str| {
        [
            ("grant_type", "refresh_token".to_owned()),
            ("client_id", CLIENT_ID.to_owned()),
            ("client_secret", CLIENT_SECRET.to_owned()),
            ("refresh_token", token.to_owned()),
        ]
    };
    let form = refresh_form(&refresh);
    let (status, _, rotated) = token(&client, &handle, &form).await;
    assert_eq!(status, 200, "{rotated}");
    let new_refresh = rotated["refresh_token"]
        .as_str()
        .expect("new refresh token")
        .to_owned();
    assert_ne!(new_refresh, refresh);
    let (status, _, reused) = token(&client, &handle, &form).await;
    assert_eq!(
        (status, reused["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    handle.advance_clock(Duration::from_secs(3601));
    assert_eq!(
        create().await.expect("answered").status(),
        401,
        "expired access token"
    );

    // Revoking the refresh token ends the connection.
    let revoke = client
        .post(format!("{}/oauth2/v1/revoke", handle.api_url()))
        .form(&[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("token", new_refresh.as_str()),
        ])
        .send()
        .await
        .expect("revoke answered");
    assert_eq!(revoke.status(), 200);
    let (status, _, body) = token(&client, &handle, &refresh_form(&new_refresh)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(handle.connections()[0].revoked);
}

async fn error_page(client: &reqwest::Client, url: &str) -> String {
    let response = client.get(url).send().await.expect("answered");
    assert_eq!(response.status(), 400);
    assert!(
        response.headers().get(reqwest::header::LOCATION).is_none(),
        "no redirect"
    );
    response.text().await.expect("html")
}

#[tokio::test]
async fn authorize_errors_match_datadog() {
    let partner = "http://127.0.0.1:9";
    let handle = common::start(common::config(partner)).await;
    let client = common::client(&handle);

    let page = error_page(
        &client,
        &authorize_url(&handle, partner, &[("client_id", Some("unknown"))]),
    )
    .await;
    assert!(
        page.contains("invalid_request - Invalid client_id parameter value"),
        "{page}"
    );
    let page = error_page(
        &client,
        &authorize_url(
            &handle,
            partner,
            &[("redirect_uri", Some("http://evil.example/cb"))],
        ),
    )
    .await;
    assert!(
        page.contains("invalid_request - Mismatching redirect URI"),
        "{page}"
    );
    let page = error_page(
        &client,
        &authorize_url(&handle, partner, &[("redirect_uri", None)]),
    )
    .await;
    assert!(page.contains("Mismatching redirect URI"));

    // After the redirect URI is trusted, errors go back to it.
    for (overrides, error) in [
        (
            vec![("response_type", Some("token"))],
            "unsupported_response_type",
        ),
        (vec![("code_challenge", None)], "invalid_request"),
        (
            vec![("code_challenge_method", Some("plain"))],
            "invalid_request",
        ),
        (vec![("code_challenge_method", None)], "invalid_request"),
        (vec![("code_challenge", Some("short"))], "invalid_request"),
        (
            vec![("scope", Some("api_keys_write dashboards_write"))],
            "invalid_scope",
        ),
    ] {
        let response = client
            .get(authorize_url(&handle, partner, &overrides))
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status(), 302, "{overrides:?}");
        let target = location(&response);
        assert!(
            target.starts_with(&format!("{partner}/oauth/callback?")),
            "{target}"
        );
        let q = query_of(&target);
        assert_eq!(param(&q, "error").as_deref(), Some(error), "{overrides:?}");
        assert!(param(&q, "error_description").is_some());
        assert_eq!(param(&q, "state").as_deref(), Some(STATE));
        assert!(param(&q, "code").is_none());
    }

    // Deny.
    let target = consent(
        &handle,
        &authorize_url(&handle, partner, &[]),
        Decision::Deny,
    )
    .await;
    let q = query_of(&target);
    assert_eq!(param(&q, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&q, "state").as_deref(), Some(STATE));
    assert!(param(&q, "code").is_none());

    // A consent page answers once.
    let html = client
        .get(authorize_url(&handle, partner, &[]))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let id = consent_id_from_page(&html).expect("id");
    let post = |decision: &'static str| {
        client
            .post(format!("{}/oauth2/v1/authorize", handle.app_url()))
            .form(&[
                ("consent_id", id.clone()),
                ("decision", decision.to_owned()),
            ])
            .send()
    };
    assert_eq!(post("authorize").await.expect("first").status(), 302);
    assert_eq!(post("authorize").await.expect("second").status(), 400);

    // A custom subdomain is a web-app host, and becomes the `site`.
    let custom = authorize_url(&handle, partner, &[]).replace("://app.", "://acme.");
    let target = consent(&handle, &custom, Decision::Authorize).await;
    let site = param(&query_of(&target), "site").expect("site");
    assert_eq!(site, handle.app_url().replace("://app.", "://acme."));
    assert_eq!(
        param(&query_of(&target), "domain").as_deref(),
        Some(handle.domain())
    );
}

#[tokio::test]
async fn token_errors_match_datadog() {
    let partner = "http://127.0.0.1:9";
    let redirect = format!("{partner}/oauth/callback");
    let handle = common::start(common::config(partner)).await;
    let client = common::client(&handle);

    let code = code_for(&handle, partner).await;
    let mut no_secret = code_form(&code, &redirect, VERIFIER);
    no_secret.retain(|(k, _)| *k != "client_secret");
    let (status, ct, body) = token(&client, &handle, &no_secret).await;
    assert_eq!(
        (status, ct.as_str(), body["error"].as_str()),
        (401, "application/json", Some("invalid_client"))
    );
    let mut wrong_secret = code_form(&code, &redirect, VERIFIER);
    wrong_secret[2].1 = "nope";
    assert_eq!(token(&client, &handle, &wrong_secret).await.0, 401);

    let wrong_verifier = "b-code-verifier-that-is-long-enough-0123456789_abcdefghij";
    let (status, _, body) = token(
        &client,
        &handle,
        &code_form(&code, &redirect, wrong_verifier),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        serde_json::json!({"error":"invalid_grant","error_description":"Invalid code or code verifier"})
    );
    let (status, _, body) = token(
        &client,
        &handle,
        &code_form(&code, "http://127.0.0.1:9/other", VERIFIER),
    )
    .await;
    assert_eq!(
        (status, body["error_description"].as_str()),
        (400, Some("Mismatching redirect URI"))
    );

    // The failures above did not spend the code; the first success does.
    let (status, _, _) = token(&client, &handle, &code_form(&code, &redirect, VERIFIER)).await;
    assert_eq!(status, 200);
    let (status, _, body) = token(&client, &handle, &code_form(&code, &redirect, VERIFIER)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(
        handle.connections()[0].revoked,
        "a replayed code revokes what it issued"
    );

    // Codes expire after 10 minutes.
    let code = code_for(&handle, partner).await;
    handle.advance_clock(Duration::from_secs(601));
    let (status, _, body) = token(&client, &handle, &code_form(&code, &redirect, VERIFIER)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // JSON bodies work too.
    let code = code_for(&handle, partner).await;
    let json: serde_json::Map<String, Value> = code_form(&code, &redirect, VERIFIER)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Value::from(v)))
        .collect();
    let response = client
        .post(format!("{}/oauth2/v1/token", handle.api_url()))
        .json(&json)
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 200);

    let bad_grant = [
        ("grant_type", "password"),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
    ];
    let (status, _, body) = token(&client, &handle, &bad_grant).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let response = client
        .post(format!("{}/oauth2/v1/token", handle.api_url()))
        .header("content-type", "text/plain")
        .body("grant_type=authorization_code")
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"], "invalid_request");

    // Revoke: unknown tokens are fine, a missing token is not.
    let revoke = |form: Vec<(&'static str, &'static str)>| {
        client
            .post(format!("{}/oauth2/v1/revoke", handle.api_url()))
            .form(&form)
            .send()
    };
    let ok = revoke(vec![
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("token", "unknown"),
    ]);
    assert_eq!(ok.await.expect("answered").status(), 200);
    let missing = revoke(vec![
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
    ]);
    assert_eq!(missing.await.expect("answered").status(), 400);
    let no_secret = revoke(vec![("client_id", CLIENT_ID), ("token", "x")]);
    assert_eq!(no_secret.await.expect("answered").status(), 401);
}

#[tokio::test]
async fn marketplace_requires_a_valid_token_with_the_scope() {
    let partner = "http://127.0.0.1:9";
    let redirect = format!("{partner}/oauth/callback");
    let handle = common::start(common::config(partner)).await;
    let client = common::client(&handle);
    let url = format!("{}/api/v2/api_keys/marketplace", handle.api_url());

    let response = client.post(&url).send().await.expect("answered");
    assert_eq!(response.status(), 401);
    assert_eq!(content_type(&response), "application/json");
    assert_eq!(
        client
            .post(&url)
            .bearer_auth("forged")
            .send()
            .await
            .expect("answered")
            .status(),
        401
    );

    // A grant without api_keys_write.
    let authorize = authorize_url(&handle, partner, &[("scope", Some("metrics_read"))]);
    let target = consent(&handle, &authorize, Decision::Authorize).await;
    let code = param(&query_of(&target), "code").expect("code");
    let (status, _, body) = token(&client, &handle, &code_form(&code, &redirect, VERIFIER)).await;
    assert_eq!(
        (status, body["scope"].as_str()),
        (200, Some("metrics_read"))
    );
    let access = body["access_token"].as_str().expect("token");
    let response = client
        .post(&url)
        .bearer_auth(access)
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.text().await.expect("body"),
        r#"{"errors":["Forbidden"]}"#
    );

    // A key revoked by the user can be created again, and the old one stops working.
    let code = code_for(&handle, partner).await;
    let (_, _, body) = token(&client, &handle, &code_form(&code, &redirect, VERIFIER)).await;
    let access = body["access_token"].as_str().expect("token").to_owned();
    let first: Value = client
        .post(&url)
        .bearer_auth(&access)
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    let first_key = first["data"]["attributes"]["key"]
        .as_str()
        .expect("key")
        .to_owned();
    assert!(handle.revoke_api_key(first["data"]["id"].as_str().expect("id")));
    assert_eq!(
        client
            .post(&url)
            .bearer_auth(&access)
            .send()
            .await
            .expect("answered")
            .status(),
        201
    );
    let validate = client
        .get(format!("{}/api/v1/validate", handle.api_url()))
        .header("DD-API-KEY", first_key)
        .send()
        .await
        .expect("answered");
    assert_eq!(validate.status(), 403);
    assert_eq!(
        validate.text().await.expect("body"),
        r#"{"errors":["Forbidden"]}"#
    );
}

#[test]
fn client_debug_hides_the_secret() {
    let client = OAuthClient::new("id", "super-secret", "http://a/cb", "http://a/on");
    assert!(!format!("{client:?}").contains("super-secret"));
}

#[test]
fn config_debug_hides_api_keys() {
    let config = common::config("http://127.0.0.1:9");
    let shown = format!("{config:?}");
    assert!(
        !shown.contains(common::API_KEY) && !shown.contains(CLIENT_SECRET),
        "{shown}"
    );
}

#[tokio::test]
async fn handle_debug_hides_tokens_and_keys() {
    let partner = "http://127.0.0.1:9";
    let redirect = format!("{partner}/oauth/callback");
    let handle = common::start(common::config(partner)).await;
    let client = common::client(&handle);
    let code = code_for(&handle, partner).await;
    let (_, _, body) = token(&client, &handle, &code_form(&code, &redirect, VERIFIER)).await;
    let shown = format!("{handle:?}");
    for secret in [
        body["access_token"].as_str().expect("token"),
        body["refresh_token"].as_str().expect("token"),
        &code,
        common::API_KEY,
        CLIENT_SECRET,
    ] {
        assert!(
            !shown.contains(secret),
            "Debug of the handle leaks a secret"
        );
    }
}
