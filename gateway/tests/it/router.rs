//! Router tests through `oneshot`, with a scripted transport standing in for Datadog.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use ddlink_gateway::Gateway;
use ddlink_gateway::http_client::TransportError;
use http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

use crate::common::{self, ADMIN_TOKEN, CLIENT_SECRET, ScriptedTransport, TOKEN_JSON};

/// A gateway behind `oneshot`, with a scripted Datadog (shared with the tenant tests).
pub struct Harness {
    _dir: tempfile::TempDir,
    pub gateway: Gateway,
    router: Router,
    pub transport: Arc<ScriptedTransport>,
}

async fn harness(public_url: &str) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let database = common::sqlite_db(dir.path());
    harness_on(dir, public_url, database).await
}

/// A harness whose state lives in `dir` and whose database is `database`.
pub async fn harness_on(
    dir: tempfile::TempDir,
    public_url: &str,
    database: ddlink_gateway::store::DbOptions,
) -> Harness {
    let transport = ScriptedTransport::new();
    let config = ddlink_gateway::Config {
        database,
        ..common::config(dir.path(), public_url)
    };
    let gateway = Gateway::start_with_transport(config, transport.clone())
        .await
        .unwrap();
    let router = gateway.router();
    Harness {
        _dir: dir,
        gateway,
        router,
        transport,
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .unwrap()
            .to_str()
            .unwrap()
    }
}

impl Harness {
    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    pub async fn get(&self, uri: &str, cookie: Option<&str>) -> Reply {
        let mut request = Request::get(uri);
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    pub async fn post_form(&self, uri: &str, cookie: Option<&str>, form: &str) -> Reply {
        let mut request =
            Request::post(uri).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        self.send(request.body(Body::from(form.to_owned())).unwrap())
            .await
    }

    /// `GET /api/status` with the admin token as bearer token.
    pub async fn status_with_admin_token(&self) -> Reply {
        self.send(
            Request::get("/api/status")
                .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    /// Logs in with the admin token and returns the `name=value` cookie.
    pub async fn login(&self) -> String {
        self.login_with(&format!("password={ADMIN_TOKEN}&next=%2F"))
            .await
    }

    /// Logs in with this form body and returns the `name=value` cookie.
    pub async fn login_with(&self, form: &str) -> String {
        let reply = self.post_form("/login", None, form).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let cookie = reply
            .headers
            .get(header::SET_COOKIE)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        cookie.split(';').next().unwrap().to_owned()
    }

    /// Starts a flow for datadoghq.eu and returns the `state` from the authorize URL.
    pub async fn start_flow(&self, cookie: &str, site: &str) -> String {
        let reply = self
            .get(
                &format!("/oauth/onboard?site={site}&domain=datadoghq.eu"),
                Some(cookie),
            )
            .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let url = url::Url::parse(reply.location()).unwrap();
        url.query_pairs()
            .find(|(k, _)| k == "state")
            .unwrap()
            .1
            .into_owned()
    }
}

pub fn csrf_of(page: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).unwrap() + marker.len();
    let end = page[start..].find('"').unwrap();
    page[start..start + end].to_owned()
}

#[tokio::test]
async fn onboarding_without_parameters_explains_the_tile_per_region() {
    let h = harness("https://gw.example.com").await;
    let reply = h.get("/oauth/onboard", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body.contains("Connect Accounts"), "{}", reply.body);
    for host in [
        "app.datadoghq.com",
        "app.datadoghq.eu",
        "us3.datadoghq.com",
        "ap2.datadoghq.com",
        "us2.ddog-gov.com",
    ] {
        assert!(
            reply.body.contains(&format!("https://{host}/integrations")),
            "missing {host}"
        );
    }
}

#[tokio::test]
async fn onboarding_rejects_unknown_sites_and_sends_anonymous_users_to_login() {
    let h = harness("https://gw.example.com").await;
    for query in [
        "domain=evil.example",
        "domain=datadoghq.localhost:9",
        "site=https://evil.example&domain=datadoghq.eu",
        "site=https://app.datadoghq.com&domain=datadoghq.eu",
    ] {
        let reply = h.get(&format!("/oauth/onboard?{query}"), None).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
    }
    let reply = h
        .get(
            "/oauth/onboard?site=https://app.datadoghq.eu&domain=datadoghq.eu",
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(
        reply
            .location()
            .starts_with("/login?next=%2Foauth%2Fonboard%3F"),
        "{}",
        reply.location()
    );
    assert!(h.transport.seen().is_empty());
}

#[tokio::test]
async fn login_sets_a_hardened_cookie_and_wrong_passwords_are_rate_limited() {
    let h = harness("https://gw.example.com").await;
    let reply = h
        .post_form("/login", None, &format!("password={ADMIN_TOKEN}"))
        .await;
    let cookie = reply
        .headers
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap();
    for attribute in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(h.post_form("/login", None, "password=wrong").await.status);
    }
    assert_eq!(&statuses[..5], &[StatusCode::UNAUTHORIZED; 5]);
    assert_eq!(statuses[6], StatusCode::TOO_MANY_REQUESTS);
}

/// Known ways to smuggle another origin through `next` (browsers strip tabs and newlines,
/// treat `\\` like `/`, and some proxies decode `%2F`): every one must land on `/`.
#[tokio::test]
async fn login_never_redirects_off_site() {
    let h = harness("https://gw.example.com").await;
    let bypasses = [
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r\n/evil.example",
        "\\evil.example",
        "/\\evil.example",
        "/\\/evil.example",
        "/%09/evil.example",
        "/%0a/evil.example",
        "/%5Cevil.example",
        "/%5c/evil.example",
        "/%2F%2Fevil.example",
        "/%2f/evil.example",
        "%2F%2Fevil.example",
        "//evil.example",
        "///evil.example",
        "https:evil.example",
        "https://evil.example/",
        "http://gw.example.com/",
        "javascript:alert(1)",
        " /x",
        "/ x",
        "/\u{0}x",
        "/\u{2028}x",
        "",
    ];
    for next in bypasses {
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("password", ADMIN_TOKEN)
            .append_pair("next", next)
            .finish();
        let reply = h.post_form("/login", None, &form).await;
        assert_eq!(
            reply.status,
            StatusCode::SEE_OTHER,
            "{next:?}: {}",
            reply.body
        );
        assert_eq!(reply.location(), "/", "next = {next:?}");
    }
    for next in [
        "/",
        "/oauth/onboard?domain=datadoghq.eu&site=https%3A%2F%2Fapp.datadoghq.eu",
    ] {
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("password", ADMIN_TOKEN)
            .append_pair("next", next)
            .finish();
        let reply = h.post_form("/login", None, &form).await;
        assert_eq!(reply.location(), next);
    }
}

#[tokio::test]
async fn plain_http_public_url_gives_a_cookie_without_secure() {
    let h = harness("http://127.0.0.1:8080").await;
    let reply = h
        .post_form("/login", None, &format!("password={ADMIN_TOKEN}"))
        .await;
    let cookie = reply
        .headers
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap();
    assert!(!cookie.contains("Secure"), "{cookie}");
    // HSTS on a plain-HTTP origin would be ignored at best; it is only sent for https.
    assert!(
        !reply
            .headers
            .contains_key(header::STRICT_TRANSPORT_SECURITY)
    );
}

#[tokio::test]
async fn onboarding_redirects_to_the_custom_site_with_pkce_and_stores_only_hashes() {
    let h = harness("https://gw.example.com").await;
    let cookie = h.login().await;
    let reply = h
        .get(
            "/oauth/onboard?site=acme.datadoghq.eu&domain=datadoghq.eu",
            Some(&cookie),
        )
        .await;
    let url = url::Url::parse(reply.location()).unwrap();
    assert_eq!(
        url.origin().ascii_serialization(),
        "https://acme.datadoghq.eu"
    );
    assert_eq!(url.path(), "/oauth2/v1/authorize");
    let pairs: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(pairs["response_type"], "code");
    assert_eq!(pairs["client_id"], "test-client");
    assert_eq!(pairs["code_challenge_method"], "S256");
    assert_eq!(
        pairs["redirect_uri"],
        "https://gw.example.com/oauth/callback"
    );
    assert_eq!(pairs["scope"], "api_keys_write");
    assert_eq!(pairs["code_challenge"].len(), 43);
    let state = &pairs["state"];
    // Only the hash of `state` is stored, and the verifier is sealed.
    let pending = h
        .gateway
        .state()
        .store
        .take_pending_authorization(
            &ddlink_gateway::crypto::hash_token(state),
            h.gateway.state().clock.now(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pending.domain, "datadoghq.eu");
    assert_eq!(pending.site, "https://acme.datadoghq.eu");
    assert!(
        h.transport.seen().is_empty(),
        "onboarding must not call Datadog"
    );
}

#[tokio::test]
async fn callback_exchanges_on_the_api_host_with_client_secret_post_then_creates_the_key() {
    let h = harness("https://gw.example.com").await;
    let cookie = h.login().await;
    let state = h.start_flow(&cookie, "https://acme.datadoghq.eu").await;
    h.transport.answer_token_and_new_key();
    let reply = h
        .get(
            &format!("/oauth/callback?code=c0de&state={state}&domain=datadoghq.eu&site=https://acme.datadoghq.eu&dd_oid=0rg-1&dd_org_name=Acme+Inc"),
            Some(&cookie),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.body.contains("You may now close this tab"));
    assert!(reply.body.contains("Acme Inc"));

    let seen = h.transport.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        (seen[0].method.as_str(), seen[0].uri.as_str()),
        ("POST", "https://api.datadoghq.eu/oauth2/v1/token")
    );
    assert!(seen[0].headers.get(header::AUTHORIZATION).is_none());
    assert_eq!(
        seen[0].headers.get(header::CONTENT_TYPE).unwrap(),
        "application/x-www-form-urlencoded"
    );
    let form: std::collections::HashMap<_, _> =
        url::form_urlencoded::parse(seen[0].body.as_bytes())
            .into_owned()
            .collect();
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["code"], "c0de");
    assert_eq!(form["client_secret"], CLIENT_SECRET);
    assert_eq!(
        form["redirect_uri"],
        "https://gw.example.com/oauth/callback"
    );
    assert!(form["code_verifier"].len() >= 43);
    assert_eq!(
        seen[1].uri,
        "https://api.datadoghq.eu/api/v2/api_keys/marketplace"
    );
    assert_eq!(
        seen[1].headers.get(header::AUTHORIZATION).unwrap(),
        "Bearer at-first-0001"
    );

    let connection = h
        .gateway
        .state()
        .store
        .connection(
            &ddlink_gateway::tenants::TenantId::default_tenant(),
            "0rg-1",
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(connection.api_key_last4.as_deref(), Some("cdef"));
    assert_eq!(connection.site, "https://acme.datadoghq.eu");
    let key = h.gateway.state().connections.api_key(&connection).unwrap();
    assert_eq!(
        secrecy::ExposeSecret::expose_secret(&key),
        "0123456789abcdef0123456789abcdef"
    );

    // Replaying the same callback is refused without contacting Datadog again.
    let replay = h
        .get(
            &format!("/oauth/callback?code=c0de&state={state}&domain=datadoghq.eu"),
            Some(&cookie),
        )
        .await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert!(replay.body.contains("expired or was already used"));
    assert_eq!(h.transport.seen().len(), 2);
}

#[tokio::test]
async fn callback_with_another_domain_makes_no_outbound_request() {
    let h = harness("https://gw.example.com").await;
    let cookie = h.login().await;
    for domain in ["datadoghq.com", "evil.example", ""] {
        let state = h.start_flow(&cookie, "https://app.datadoghq.eu").await;
        let reply = h
            .get(
                &format!("/oauth/callback?code=c0de&state={state}&domain={domain}"),
                Some(&cookie),
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{domain}");
        assert!(reply.body.contains("site mismatch"), "{}", reply.body);
    }
    assert!(h.transport.seen().is_empty());
    let metrics = h.get("/metrics", None).await.body;
    assert!(
        metrics.contains("ddlink_errors_total{kind=\"domain_mismatch\"} 3"),
        "{metrics}"
    );
}

#[tokio::test]
async fn callback_state_expires_after_ten_minutes_and_needs_the_same_session() {
    let h = harness("https://gw.example.com").await;
    let cookie = h.login().await;
    let state = h.start_flow(&cookie, "https://app.datadoghq.eu").await;
    h.gateway.state().clock.advance(601);
    let reply = h
        .get(
            &format!("/oauth/callback?code=c&state={state}&domain=datadoghq.eu"),
            Some(&cookie),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);

    let cookie = h.login().await;
    let state = h.start_flow(&cookie, "https://app.datadoghq.eu").await;
    let other_session = h.login().await;
    let reply = h
        .get(
            &format!("/oauth/callback?code=c&state={state}&domain=datadoghq.eu"),
            Some(&other_session),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let anonymous = h
        .get(
            &format!("/oauth/callback?code=c&state={state}&domain=datadoghq.eu"),
            None,
        )
        .await;
    assert_eq!(
        anonymous.status,
        StatusCode::BAD_REQUEST,
        "state is single use even when refused"
    );
    assert!(h.transport.seen().is_empty());
}

/// Each troubleshooting error of Datadog's guide gets a page saying what happened and what to do.
#[tokio::test]
async fn datadog_errors_produce_troubleshooting_pages() {
    let h = harness("https://gw.example.com").await;
    let cookie = h.login().await;
    let cases: Vec<(&str, u16, &str, StatusCode, &str)> = vec![
        (
            "/oauth2/v1/token",
            400,
            r#"{"error":"invalid_request","error_description":"Invalid client_id parameter value"}"#,
            StatusCode::BAD_GATEWAY,
            "Invalid client ID",
        ),
        (
            "/oauth2/v1/token",
            400,
            r#"{"error":"invalid_request","error_description":"Mismatching redirect URI"}"#,
            StatusCode::BAD_GATEWAY,
            "https://gw.example.com/oauth/callback",
        ),
        (
            "/oauth2/v1/token",
            400,
            r#"{"error":"invalid_grant","error_description":"Invalid code or code verifier"}"#,
            StatusCode::BAD_GATEWAY,
            "Invalid code or code verifier",
        ),
        (
            "/oauth2/v1/token",
            401,
            r#"{"error":"invalid_client","error_description":"Client authentication failed"}"#,
            StatusCode::BAD_GATEWAY,
            "client credentials",
        ),
        (
            "/api/v2/api_keys/marketplace",
            403,
            r#"{"errors":["Forbidden"]}"#,
            StatusCode::BAD_GATEWAY,
            "api_keys_write",
        ),
        (
            "/api/v2/api_keys/marketplace",
            409,
            r#"{"errors":["An API key with this name already exists"]}"#,
            StatusCode::CONFLICT,
            "OAuth Client API Key",
        ),
    ];
    for (path, status, body, expected, phrase) in cases {
        let state = h.start_flow(&cookie, "https://app.datadoghq.eu").await;
        if path != "/oauth2/v1/token" {
            h.transport
                .answer("/oauth2/v1/token", 200, "application/json", TOKEN_JSON);
            h.transport
                .answer("/oauth2/v1/revoke", 200, "application/json", "{}");
        }
        h.transport.answer(path, status, "application/json", body);
        let reply = h
            .get(
                &format!("/oauth/callback?code=c&state={state}&domain=datadoghq.eu"),
                Some(&cookie),
            )
            .await;
        assert_eq!(reply.status, expected, "{path} {status}: {}", reply.body);
        assert!(
            reply.body.contains(phrase),
            "{path} {status}: missing {phrase:?} in {}",
            reply.body
        );
        assert!(reply.body.contains("What to do"));
        assert!(!reply.body.contains(CLIENT_SECRET));
        assert!(!reply.body.contains("at-first-0001"));
    }
    // No connection was stored by any failure.
    assert!(
        h.gateway
            .state()
            .store
            .connections(&ddlink_gateway::tenants::TenantId::default_tenant())
            .await
            .unwrap()
            .is_empty()
    );

    let state = h.start_flow(&cookie, "https://app.datadoghq.eu").await;
    h.transport.fail(
        "/oauth2/v1/token",
        TransportError::Connect {
            host: "api.datadoghq.eu".into(),
        },
    );
    let reply = h
        .get(
            &format!("/oauth/callback?code=c&state={state}&domain=datadoghq.eu"),
            Some(&cookie),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert!(reply.body.contains("altnames"), "{}", reply.body);

    let state = h.start_flow(&cookie, "https://app.datadoghq.eu").await;
    let denied = h
        .get(
            &format!(
                "/oauth/callback?error=access_denied&error_description=user+cancelled&state={state}"
            ),
            Some(&cookie),
        )
        .await;
    assert_eq!(denied.status, StatusCode::BAD_REQUEST);
    assert!(denied.body.contains("not granted") && denied.body.contains("user cancelled"));
}

#[tokio::test]
async fn posts_without_the_csrf_token_are_refused() {
    let h = harness("https://gw.example.com").await;
    let cookie = h.login().await;
    let page = h.get("/", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    let csrf = csrf_of(&page.body);
    for form in ["".to_owned(), "csrf=forged".to_owned()] {
        let reply = h.post_form("/logout", Some(&cookie), &form).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{form}");
    }
    assert_eq!(
        h.get("/", Some(&cookie)).await.status,
        StatusCode::OK,
        "session survives refused posts"
    );
    let reply = h
        .post_form("/logout", Some(&cookie), &format!("csrf={csrf}"))
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(h.get("/", Some(&cookie)).await.location(), "/login");
}

#[tokio::test]
async fn status_api_needs_the_admin_token_or_a_session() {
    let h = harness("https://gw.example.com").await;
    let anonymous = h.get("/api/status", None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let wrong = h
        .send(
            Request::get("/api/status")
                .header(header::AUTHORIZATION, "Bearer nope")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let ok = h.status_with_admin_token().await;
    assert_eq!(ok.status, StatusCode::OK);
    let json: serde_json::Value = serde_json::from_str(&ok.body).unwrap();
    assert_eq!(json["connections"], serde_json::json!([]));
    let cookie = h.login().await;
    assert_eq!(
        h.get("/api/status", Some(&cookie)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn health_metrics_and_security_headers() {
    let h = harness("https://gw.example.com").await;
    let health = h.get("/healthz", None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.headers.get(header::X_FRAME_OPTIONS).unwrap(), "DENY");
    assert_eq!(
        health.headers.get(header::REFERRER_POLICY).unwrap(),
        "no-referrer"
    );
    let csp = health.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(
        health.headers[header::STRICT_TRANSPORT_SECURITY],
        "max-age=31536000"
    );
    let metrics = h.get("/metrics", None).await;
    assert!(
        metrics
            .body
            .contains("# TYPE ddlink_oauth_handshakes_total counter")
    );
}
