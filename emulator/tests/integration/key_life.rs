//! The key's whole life at Datadog: an uninstall revokes the integration's tokens but keeps
//! its API key (a new authorization then gets 409 for the key); revoking the key on the API
//! Keys page makes it 403 everywhere and lets the marketplace endpoint create a new one.

use ddlink_emulator::{EmulatorHandle, OrgConfig};
use serde_json::{Value, json};

use crate::common::{self, CLIENT_ID, CLIENT_SECRET};
use crate::oauth_flow::{VERIFIER, code_for, code_form, start_partner, token};

/// Tokens of one authorization, and the status and body of its marketplace key request.
struct Authorized {
    access: String,
    refresh: String,
    key_status: u16,
    key_body: Value,
}

async fn authorize(handle: &EmulatorHandle, partner: &str) -> Authorized {
    let client = common::client(handle);
    let code = code_for(handle, partner).await;
    let redirect = format!("{partner}/oauth/callback");
    let (status, _, tokens) = token(&client, handle, &code_form(&code, &redirect, VERIFIER)).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().expect("access").to_owned();
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let (key_status, key_body) = create_key(handle, &access).await;
    Authorized {
        access,
        refresh,
        key_status,
        key_body,
    }
}

async fn create_key(handle: &EmulatorHandle, access: &str) -> (u16, Value) {
    let response = common::client(handle)
        .post(format!("{}/api/v2/api_keys/marketplace", handle.api_url()))
        .bearer_auth(access)
        .send()
        .await
        .expect("marketplace answered");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

async fn refresh(handle: &EmulatorHandle, refresh_token: &str) -> (u16, Value) {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
    ];
    let (status, _, body) = token(&common::client(handle), handle, &form).await;
    (status, body)
}

async fn validate(handle: &EmulatorHandle, key: &str) -> (u16, Value) {
    let response = common::client(handle)
        .get(format!("{}/api/v1/validate", handle.api_url()))
        .header("DD-API-KEY", key)
        .send()
        .await
        .expect("validate answered");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

async fn submit_series(handle: &EmulatorHandle, key: &str) -> u16 {
    let now = handle
        .now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("epoch")
        .as_secs();
    let body =
        json!({"series":[{"metric":"key.life","type":3,"points":[{"timestamp":now,"value":1.0}]}]});
    common::client(handle)
        .post(format!("{}/api/v2/series", handle.api_url()))
        .header("DD-API-KEY", key)
        .json(&body)
        .send()
        .await
        .expect("series answered")
        .status()
        .as_u16()
}

async fn page(client: &reqwest::Client, url: String) -> (u16, String) {
    let response = client.get(url).send().await.expect("page answered");
    let status = response.status().as_u16();
    (status, response.text().await.expect("html"))
}

#[tokio::test]
async fn uninstall_on_the_tile_revokes_tokens_and_keeps_the_key_until_it_is_revoked() {
    let (partner, _) = start_partner().await;
    let handle = common::start(common::config(&partner)).await;
    let client = common::client(&handle);
    let first = authorize(&handle, &partner).await;
    assert_eq!(first.key_status, 201, "{}", first.key_body);
    let key = first.key_body["data"]["attributes"]["key"]
        .as_str()
        .expect("key")
        .to_owned();
    let key_id = first.key_body["data"]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let (status, tile) = page(&client, format!("{}/tile", handle.app_url())).await;
    assert_eq!(status, 200);
    assert!(tile.contains("action=\"/tile/uninstall\""), "{tile}");
    let uninstalled = client
        .post(format!("{}/tile/uninstall", handle.app_url()))
        .form(&[("client_id", CLIENT_ID)])
        .send()
        .await
        .expect("uninstall answered");
    assert_eq!(uninstalled.status(), 200);
    let text = uninstalled.text().await.expect("html");
    assert!(text.contains("API Keys page"), "{text}");
    let (_, tile) = page(&client, format!("{}/tile", handle.app_url())).await;
    assert!(
        !tile.contains("/tile/uninstall"),
        "no longer installed: {tile}"
    );

    // The tokens are gone; the key is not.
    let (status, body) = refresh(&handle, &first.refresh).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, body) = create_key(&handle, &first.access).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(validate(&handle, &key).await, (200, json!({"valid": true})));
    assert_eq!(submit_series(&handle, &key).await, 202);

    // Authorizing again works, but the org still holds the integration's key.
    let second = authorize(&handle, &partner).await;
    assert_eq!(second.key_status, 409, "{}", second.key_body);
    assert_eq!(
        second.key_body,
        json!({"errors": ["An API key with this name already exists"]})
    );

    // The API Keys page shows the key by name and last four, never whole.
    let keys_url = format!("{}/organization-settings/api-keys", handle.app_url());
    let (status, listing) = page(&client, keys_url.clone()).await;
    assert_eq!(status, 200);
    assert!(listing.contains("OAuth Client API Key"), "{listing}");
    assert!(listing.contains(&format!("…{}", &key[key.len() - 4..])));
    assert!(!listing.contains(&key), "a whole key on the page");
    assert!(
        !listing.contains(common::API_KEY),
        "a whole key on the page"
    );
    let revoked = client
        .post(format!("{keys_url}/{key_id}/revoke"))
        .send()
        .await
        .expect("revoke answered");
    assert_eq!(revoked.status(), 302);
    let (_, listing) = page(&client, keys_url.clone()).await;
    assert!(!listing.contains(&format!("{key_id}/revoke")), "{listing}");

    assert_eq!(
        validate(&handle, &key).await,
        (403, json!({"errors": ["Forbidden"]}))
    );
    assert_eq!(submit_series(&handle, &key).await, 403);
    // With the old key revoked the live authorization may create a new one.
    let (status, body) = create_key(&handle, &second.access).await;
    assert_eq!(status, 201, "{body}");
    let new_key = body["data"]["attributes"]["key"].as_str().expect("key");
    assert_ne!(new_key, key);
    assert_eq!(validate(&handle, new_key).await.0, 200);
}

#[tokio::test]
async fn the_test_api_and_the_handle_uninstall_and_revoke() {
    let (partner, _) = start_partner().await;
    let beta = OrgConfig::new("Beta Org", "beta");
    let mut config = common::config(&partner);
    config.orgs.push(beta.clone());
    let handle = common::start(config).await;
    let client = common::client(&handle);
    let org = handle.orgs()[0].id.clone();
    let first = authorize(&handle, &partner).await;
    let key = first.key_body["data"]["attributes"]["key"]
        .as_str()
        .expect("key")
        .to_owned();
    let key_id = first.key_body["data"]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let call =
        |path: String| common::test_api(&client, &handle, reqwest::Method::POST, &path).send();
    let response = call(format!("orgs/{}/uninstall", beta.id))
        .await
        .expect("answered");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.expect("json"),
        json!({"revoked_connections": 0}),
        "another org's uninstall leaves this one installed"
    );
    assert_eq!(refresh(&handle, &first.refresh).await.0, 200);
    let response = call(format!("orgs/{org}/uninstall?client_id={CLIENT_ID}"))
        .await
        .expect("answered");
    assert_eq!(
        response.json::<Value>().await.expect("json"),
        json!({"revoked_connections": 1})
    );
    let (status, body) = refresh(&handle, &first.refresh).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(
        call("orgs/nope/uninstall".into())
            .await
            .expect("answered")
            .status(),
        404
    );
    assert_eq!(
        call(format!("orgs/{org}/uninstall?client_id=nope"))
            .await
            .expect("answered")
            .status(),
        404
    );

    // The handle does the same: a fresh authorization, uninstalled in process.
    let second = authorize(&handle, &partner).await;
    assert_eq!(second.key_status, 409);
    assert_eq!(handle.uninstall(&org, CLIENT_ID), Some(1));
    assert_eq!(handle.uninstall(&org, CLIENT_ID), Some(0));
    assert_eq!(handle.uninstall("nope", CLIENT_ID), None);
    assert_eq!(create_key(&handle, &second.access).await.0, 401);
    assert_eq!(validate(&handle, &key).await.0, 200);

    // The other org's keys page neither shows nor revokes this org's key.
    let beta_app = handle.org_app_url(&beta.id).expect("beta");
    let keys_url = format!("{beta_app}/organization-settings/api-keys");
    let beta_browser = common::client_builder(&handle)
        .resolve(
            &format!("beta.{}", handle.domain_name()),
            handle.local_addr(),
        )
        .build()
        .expect("client");
    let (status, listing) = page(&beta_browser, keys_url.clone()).await;
    assert_eq!(status, 200);
    assert!(!listing.contains(&key_id), "{listing}");
    let response = beta_browser
        .post(format!("{keys_url}/{key_id}/revoke"))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 404);
    assert_eq!(validate(&handle, &key).await.0, 200);

    // Revoking by the test API (ids only) ends the key.
    let response = call(format!("keys/{key_id}/revoke"))
        .await
        .expect("answered");
    assert_eq!(response.status(), 204);
    assert_eq!(validate(&handle, &key).await.0, 403);
    assert_eq!(submit_series(&handle, &key).await, 403);
    assert!(
        handle
            .api_keys()
            .iter()
            .any(|k| k.id == key_id && k.revoked)
    );
}
