//! A minimal stand-in for the ddlink gateway's device API (`docs/PROTOCOL.md`), built on core's
//! gateway-side provisioning functions, for the firmware's end-to-end tests.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ddlink_core::provision::{
    ApiKey, DeviceSecret, ExchangeSecrets, LastError, MacInput, SealedClaims, derive_device_secret,
    seal_api_key, verify_provision_mac,
};
use ddlink_core::site::Site;
use serde_json::{Value, json};

pub const FLEET_KEY: [u8; 32] = [7; 32];

/// The key and version the gateway hands out; tests change them to simulate rotation.
#[derive(Debug, Clone)]
pub struct Handout {
    pub api_key: String,
    pub key_version: u32,
    pub site_domain: String,
}

/// How the stand-in answers a MAC-verified request, and what it heard.
#[derive(Debug)]
pub struct Policy {
    /// Lease of every approval.
    pub lease_secs: u32,
    /// Answer 409 `not_connected` instead of approving.
    pub not_connected: bool,
    /// The `last_error` of each verified request, in order (`None`: none sent).
    pub reports: Vec<Option<String>>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            lease_secs: 86_400,
            not_connected: false,
            reports: Vec::new(),
        }
    }
}

#[derive(Clone)]
struct GatewayState {
    handout: Arc<Mutex<Handout>>,
    challenges: Arc<Mutex<Vec<[u8; 32]>>>,
    approvals: Arc<Mutex<u32>>,
    policy: Arc<Mutex<Policy>>,
}

pub struct Gateway {
    pub addr: SocketAddr,
    pub handout: Arc<Mutex<Handout>>,
    pub approvals: Arc<Mutex<u32>>,
    pub policy: Arc<Mutex<Policy>>,
    _runtime: tokio::runtime::Runtime,
}

impl Gateway {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn approvals(&self) -> u32 {
        *self.approvals.lock().unwrap()
    }
}

pub fn device_secret_hex(fleet: &str, device_id: &str) -> String {
    let secret = derive_device_secret(&FLEET_KEY, fleet, device_id).unwrap();
    secret
        .expose_secret()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn challenge(State(state): State<GatewayState>) -> (StatusCode, Json<Value>) {
    let challenge: [u8; 32] = std::array::from_fn(|i| rand_byte(i as u8));
    state.challenges.lock().unwrap().push(challenge);
    (
        StatusCode::OK,
        Json(json!({"challenge": STANDARD.encode(challenge), "expires_in": 60})),
    )
}

fn rand_byte(salt: u8) -> u8 {
    let mut byte = [0u8; 1];
    getrandom_fill(&mut byte);
    byte[0] ^ salt
}

fn getrandom_fill(out: &mut [u8]) {
    use rand_core::RngCore;
    rand_core::OsRng.fill_bytes(out);
}

fn unauthorized() -> (StatusCode, Json<Value>) {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"status": "unauthorized"})),
    )
}

async fn provision(
    State(state): State<GatewayState>,
    Json(request): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let field = |name: &str| request[name].as_str().unwrap_or_default().to_owned();
    let (fleet, device_id) = (field("fleet"), field("device_id"));
    let decode = |name: &str| STANDARD.decode(field(name)).unwrap_or_default();
    let (Ok(challenge), Ok(nonce)) = (
        <[u8; 32]>::try_from(decode("challenge")),
        <[u8; 16]>::try_from(decode("device_nonce")),
    ) else {
        return unauthorized();
    };
    {
        let mut issued = state.challenges.lock().unwrap();
        let Some(position) = issued.iter().position(|c| *c == challenge) else {
            return unauthorized();
        };
        issued.remove(position);
    }
    let Ok(secret): Result<DeviceSecret, _> = derive_device_secret(&FLEET_KEY, &fleet, &device_id)
    else {
        return unauthorized();
    };
    let report = request["last_error"].as_str().map(str::to_owned);
    let last_error = match report.as_deref().map(LastError::from_wire) {
        None => None,
        Some(Some(last_error)) => Some(last_error),
        Some(None) => return unauthorized(),
    };
    let input = MacInput {
        challenge: &challenge,
        device_nonce: &nonce,
        device_id: &device_id,
        last_error,
    };
    if !verify_provision_mac(&secret, &input, &decode("mac")) {
        return unauthorized();
    }
    let lease_secs = {
        let mut policy = state.policy.lock().unwrap();
        policy.reports.push(report);
        if policy.not_connected {
            return (
                StatusCode::CONFLICT,
                Json(json!({"status": "not_connected"})),
            );
        }
        policy.lease_secs
    };
    let handout = state.handout.lock().unwrap().clone();
    let site = Site::sandbox(&handout.site_domain).unwrap();
    let server_time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = SealedClaims {
        device_id: &device_id,
        key_version: handout.key_version,
        site,
        server_time,
        lease_secs,
    };
    let seal_nonce: [u8; 12] = std::array::from_fn(|i| rand_byte(i as u8));
    let mut sealed = [0u8; 128];
    let len = seal_api_key(
        &ExchangeSecrets {
            secret: &secret,
            challenge: &challenge,
            device_nonce: &nonce,
        },
        &claims,
        &seal_nonce,
        &ApiKey::new(&handout.api_key).unwrap(),
        &mut sealed,
    )
    .unwrap();
    *state.approvals.lock().unwrap() += 1;
    (
        StatusCode::OK,
        Json(json!({
            "status": "approved",
            "key_version": handout.key_version,
            "site": site.domain(),
            "api_host": site.api_host().as_str(),
            "logs_host": site.logs_host().as_str(),
            "server_time": server_time,
            "lease_secs": lease_secs,
            "nonce": STANDARD.encode(seal_nonce),
            "sealed_key": STANDARD.encode(&sealed[..len]),
        })),
    )
}

/// Starts the gateway stand-in on `127.0.0.1:0`.
pub fn gateway(handout: Handout) -> Gateway {
    gateway_on(std::net::Ipv4Addr::LOCALHOST, handout)
}

/// Starts the gateway stand-in on a free port of `ip`.
pub fn gateway_on(ip: std::net::Ipv4Addr, handout: Handout) -> Gateway {
    let state = GatewayState {
        handout: Arc::new(Mutex::new(handout)),
        challenges: Arc::default(),
        approvals: Arc::default(),
        policy: Arc::default(),
    };
    let handout = state.handout.clone();
    let approvals = state.approvals.clone();
    let policy = state.policy.clone();
    let app = Router::new()
        .route("/v1/provision/challenge", post(challenge))
        .route("/v1/provision", post(provision))
        .with_state(state);
    let (addr, runtime) = super::serve_plain(ip, app);
    Gateway {
        addr,
        handout,
        approvals,
        policy,
        _runtime: runtime,
    }
}
