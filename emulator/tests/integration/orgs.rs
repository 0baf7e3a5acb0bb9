//! Several orgs in one emulator: each has its own tile and consent page, its own marketplace
//! key per client, and what arrives with its keys is recorded under it alone.

use ddlink_emulator::{EmulatorHandle, OrgConfig, OrgError};
use serde_json::{Value, json};

use crate::common::{self, API_KEY, CLIENT_ID, param};
use crate::oauth_flow::{VERIFIER, code_form, start_partner, token};

fn two_orgs(partner: &str) -> (ddlink_emulator::EmulatorConfig, OrgConfig) {
    let beta = OrgConfig::new("Beta Org", "beta");
    let mut config = common::config(partner);
    config.orgs.push(beta.clone());
    (config, beta)
}

fn now(handle: &EmulatorHandle) -> u64 {
    handle
        .now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("epoch")
        .as_secs()
}

async fn submit_series(handle: &EmulatorHandle, key: &str, metric: &str) {
    let client = common::client(handle);
    let body = json!({"series":[{"metric":metric,"type":3,"points":[{"timestamp":now(handle),"value":1.0}]}]});
    let response = client
        .post(format!("{}/api/v2/series", handle.api_url()))
        .header("DD-API-KEY", key)
        .json(&body)
        .send()
        .await
        .expect("series answered");
    assert_eq!(response.status(), 202);
}

async fn submit_log(handle: &EmulatorHandle, key: &str, message: &str) {
    let client = common::client(handle);
    let response = client
        .post(format!("{}/api/v2/logs", handle.logs_url()))
        .header("DD-API-KEY", key)
        .json(&json!([{ "message": message }]))
        .send()
        .await
        .expect("logs answered");
    assert_eq!(response.status(), 202);
}

#[tokio::test]
async fn a_key_of_one_org_never_lands_data_in_another() {
    let (config, beta) = two_orgs("http://127.0.0.1:9");
    let handle = common::start(config).await;
    let alpha = handle.orgs()[0].clone();
    let beta_key = handle.create_org_api_key(&beta.id).expect("beta exists");
    assert_eq!(beta_key.org_id, beta.id);
    assert!(handle.create_org_api_key("no-such-org").is_none());

    submit_series(&handle, API_KEY, "alpha.metric").await;
    submit_series(&handle, &beta_key.key, "beta.metric").await;
    submit_log(&handle, API_KEY, "alpha log").await;
    submit_log(&handle, &beta_key.key, "beta log").await;

    let series = handle.received_series();
    assert_eq!(series.len(), 2);
    for record in &series {
        let expected = if record.metric == "alpha.metric" {
            &alpha.id
        } else {
            &beta.id
        };
        assert_eq!(&record.org_id, expected, "{record:?}");
    }
    let logs = handle.received_logs();
    assert!(
        logs.iter()
            .all(|l| (l.message == "beta log") == (l.org_id == beta.id)),
        "{logs:?}"
    );

    // The test API reads one org's records, or all of them.
    let client = common::client(&handle);
    let of_beta = common::test_api_get(
        &client,
        &handle,
        &format!("received/series?org_id={}", beta.id),
    )
    .await;
    let metrics: Vec<&str> = of_beta
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["metric"].as_str().expect("metric"))
        .collect();
    assert_eq!(metrics, ["beta.metric"]);
    assert_eq!(of_beta[0]["org_id"], beta.id.as_str());
    let alpha_logs = common::test_api_get(
        &client,
        &handle,
        &format!("received/logs?org_id={}", alpha.id),
    )
    .await;
    assert_eq!(alpha_logs.as_array().expect("array").len(), 1);
    assert_eq!(alpha_logs[0]["message"], "alpha log");
    let all = common::test_api_get(&client, &handle, "received/series").await;
    assert_eq!(all.as_array().expect("array").len(), 2);
}

#[tokio::test]
async fn each_org_has_its_own_tile_consent_and_marketplace_key() {
    let (partner_base, partner) = start_partner().await;
    let (config, beta) = two_orgs(&partner_base);
    let handle = common::start(config).await;
    let alpha = handle.orgs()[0].clone();
    let client = common::client(&handle);
    let redirect = format!("{partner_base}/oauth/callback");

    // `/tile` is the first org's; each org's tile is on its own web-app host.
    assert_eq!(
        handle.org_tile_url(&alpha.id),
        Some(format!("{}/tile", handle.app_url()))
    );
    let beta_tile = handle.org_tile_url(&beta.id).expect("beta's tile");
    assert_eq!(
        beta_tile,
        format!("http://beta.{}/tile", handle.domain()),
        "beta's web app is its subdomain"
    );
    let beta_browser = handle.headless_browser(&beta.id, None).expect("browser");
    let alpha_browser = handle.headless_browser(&alpha.id, None).expect("browser");
    let beta_page = beta_browser.get(&beta_tile).await.expect("beta's tile");
    assert!(beta_page.body.contains("Beta Org"), "{}", beta_page.body);
    let alpha_page = alpha_browser
        .get(&format!("{}/tile", handle.app_url()))
        .await
        .expect("the tile");
    assert!(
        alpha_page.body.contains("Sandbox Org") && !alpha_page.body.contains("Beta Org"),
        "{}",
        alpha_page.body
    );

    let mut keys = Vec::new();
    for (browser, org) in [(&alpha_browser, &alpha), (&beta_browser, &beta)] {
        let callback = browser.connect(CLIENT_ID).await.expect("consent");
        assert_eq!(callback.status, 200, "{}", callback.body);
        let params = partner
            .callbacks
            .lock()
            .expect("lock")
            .last()
            .cloned()
            .expect("a callback");
        assert_eq!(param(&params, "dd_oid").as_deref(), Some(org.id.as_str()));
        assert_eq!(
            param(&params, "dd_org_name").as_deref(),
            Some(org.name.as_str())
        );
        assert_eq!(param(&params, "site"), handle.org_app_url(&org.id));
        let code = param(&params, "code").expect("code");
        let (status, _, body) =
            token(&client, &handle, &code_form(&code, &redirect, VERIFIER)).await;
        assert_eq!(status, 200, "{body}");
        let access = body["access_token"].as_str().expect("token").to_owned();

        // One marketplace key per client and org: the second for the same org is a 409.
        let create = || {
            client
                .post(format!("{}/api/v2/api_keys/marketplace", handle.api_url()))
                .bearer_auth(&access)
                .send()
        };
        let created = create().await.expect("key answered");
        assert_eq!(created.status(), 201, "{}", org.name);
        let body: Value = created.json().await.expect("JSON");
        assert_eq!(
            body["data"]["relationships"]["created_by"]["data"]["id"],
            org.user_id.as_str()
        );
        let key = body["data"]["attributes"]["key"]
            .as_str()
            .expect("key")
            .to_owned();
        assert_eq!(create().await.expect("answered").status(), 409);
        keys.push((org.id.clone(), key));
    }
    let connections = handle.connections();
    assert_eq!(connections.len(), 2);
    assert_eq!(connections[0].org_id, alpha.id);
    assert_eq!(connections[1].org_id, beta.id);
    assert_eq!(connections[1].org_name, "Beta Org");

    // Each org's marketplace key lands data in that org only.
    for (i, (_, key)) in keys.iter().enumerate() {
        submit_series(&handle, key, &format!("m.org{i}")).await;
    }
    let series = handle.received_series();
    assert_eq!(series.len(), 2);
    for record in series {
        let i = keys.iter().position(|(org_id, _)| *org_id == record.org_id);
        assert_eq!(i.map(|i| format!("m.org{i}")), Some(record.metric));
    }
    let stored: Vec<_> = handle
        .api_keys()
        .into_iter()
        .filter(|k| keys.iter().any(|(_, key)| *key == k.key))
        .map(|k| k.org_id)
        .collect();
    assert_eq!(stored, [alpha.id.clone(), beta.id.clone()]);
}

#[tokio::test]
async fn orgs_can_be_added_at_run_time() {
    let handle = common::start(common::config("http://127.0.0.1:9")).await;
    let client = common::client(&handle);
    let post = |body: Value| {
        common::test_api(&client, &handle, reqwest::Method::POST, "orgs")
            .json(&body)
            .send()
    };

    let created = post(json!({ "name": "Gamma" })).await.expect("answered");
    assert_eq!(created.status(), 201);
    let gamma: Value = created.json().await.expect("JSON");
    assert_eq!(gamma["name"], "Gamma");
    assert_eq!(gamma["subdomain"], "org-2");
    assert_eq!(gamma["id"].as_str().expect("id").len(), 36);
    let gamma_id = gamma["id"].as_str().expect("id").to_owned();
    assert_eq!(
        gamma["tile_url"].as_str(),
        handle.org_tile_url(&gamma_id).as_deref()
    );

    let named = post(json!({ "name": "Delta", "subdomain": "delta" }))
        .await
        .expect("answered");
    assert_eq!(named.status(), 201);
    let taken = post(json!({ "name": "Other", "subdomain": "delta" }))
        .await
        .expect("answered");
    assert_eq!(taken.status(), 409);
    for bad in [
        json!({ "name": "" }),
        json!({ "name": "X", "subdomain": "api" }),
        json!({ "name": "X", "subdomain": "a.b" }),
        json!({ "subdomain": "x" }),
    ] {
        let answer = post(bad.clone()).await.expect("answered");
        assert_eq!(answer.status(), 400, "{bad}");
    }
    let unauthenticated = client
        .post(format!("{}/_emulator/orgs", handle.base_url()))
        .json(&json!({ "name": "Sneaky" }))
        .send()
        .await
        .expect("answered");
    assert_eq!(unauthenticated.status(), 401);

    let listed = common::test_api_get(&client, &handle, "orgs").await;
    let names: Vec<&str> = listed
        .as_array()
        .expect("array")
        .iter()
        .map(|o| o["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["Sandbox Org", "Gamma", "Delta"]);

    // Keys of the new org, over HTTP and in process; an unknown org has none.
    let key = common::test_api(&client, &handle, reqwest::Method::POST, "keys")
        .json(&json!({ "org_id": gamma_id }))
        .send()
        .await
        .expect("answered");
    assert_eq!(key.status(), 201);
    let key: Value = key.json().await.expect("JSON");
    assert_eq!(key["org_id"], gamma_id.as_str());
    let unknown = common::test_api(&client, &handle, reqwest::Method::POST, "keys")
        .json(&json!({ "org_id": "no-such-org" }))
        .send()
        .await
        .expect("answered");
    assert_eq!(unknown.status(), 404);
    submit_series(&handle, key["key"].as_str().expect("key"), "gamma.metric").await;
    assert_eq!(handle.received_series()[0].org_id, gamma_id);

    // The new org's tile is served on its host.
    let browser = handle.headless_browser(&gamma_id, None).expect("browser");
    let tile = browser.get(&browser.tile_url()).await.expect("tile");
    assert_eq!(tile.status, 200);
    assert!(tile.body.contains("Gamma"), "{}", tile.body);

    let epsilon = handle.create_org("Epsilon", None).expect("created");
    assert_eq!(epsilon.subdomain.as_deref(), Some("org-3"));
    assert!(matches!(
        handle.create_org("Zeta", Some("delta".into())),
        Err(OrgError::Conflict(_))
    ));
    assert!(matches!(
        handle.create_org(" ", None),
        Err(OrgError::Invalid(_))
    ));
    assert_eq!(handle.orgs().len(), 4);
}
