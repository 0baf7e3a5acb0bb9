//! Shared test helpers: configurations, a scripted transport, and the emulator world.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use ddlink_gateway::config::Config;
use ddlink_gateway::http_client::{
    HttpRequest, HttpResponse, Transport, TransportError, TransportFuture,
};
use ddlink_gateway::store::{DbOptions, sqlite_url_for_path};

#[path = "../cli_settings/mod.rs"]
pub mod cli_settings;
#[path = "../gateway_config/mod.rs"]
pub mod gateway_config;
#[path = "../pg_schema/mod.rs"]
pub mod pg_schema;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
pub const CLIENT_SECRET: &str = "test-client-secret-s3cr3t";

/// A database for one test: a SQLite file in `dir`, or a fresh PostgreSQL schema.
pub fn sqlite_db(dir: &std::path::Path) -> DbOptions {
    DbOptions::new(sqlite_url_for_path(&dir.join("ddlink.db")))
}

/// A production-style configuration (all nine regions) with a SQLite file in `dir`.
pub fn config(dir: &std::path::Path, public_url: &str) -> Config {
    gateway_config::gateway_config(dir, public_url, sqlite_db(dir), ADMIN_TOKEN, CLIENT_SECRET)
}

/// One request the gateway sent, as seen by the scripted transport.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub uri: String,
    pub headers: http::HeaderMap,
    pub body: String,
}

/// Queued answers for one path.
type Answers = VecDeque<Result<HttpResponse, TransportError>>;

/// Answers requests with queued responses (per path), recording every request.
#[derive(Debug, Default)]
pub struct ScriptedTransport {
    pub seen: Mutex<Vec<Seen>>,
    answers: Mutex<Vec<(String, Answers)>>,
}

impl ScriptedTransport {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn answer(&self, path: &str, status: u16, content_type: &str, body: &str) {
        let response = http::Response::builder()
            .status(status)
            .header("content-type", content_type)
            .body(body.as_bytes().to_vec())
            .unwrap();
        self.push(path, Ok(response));
    }

    /// A successful code exchange followed by a newly created API key.
    pub fn answer_token_and_new_key(&self) {
        self.answer("/oauth2/v1/token", 200, "application/json", TOKEN_JSON);
        self.answer(
            "/api/v2/api_keys/marketplace",
            201,
            "application/json",
            KEY_JSON,
        );
    }

    pub fn fail(&self, path: &str, error: TransportError) {
        self.push(path, Err(error));
    }

    fn push(&self, path: &str, answer: Result<HttpResponse, TransportError>) {
        let mut answers = self.answers.lock().unwrap();
        match answers.iter_mut().find(|(p, _)| p == path) {
            Some((_, queue)) => queue.push_back(answer),
            None => answers.push((path.to_owned(), VecDeque::from([answer]))),
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Transport for ScriptedTransport {
    fn send(&self, request: HttpRequest) -> TransportFuture<'_> {
        let path = request.uri().path().to_owned();
        self.seen.lock().unwrap().push(Seen {
            method: request.method().to_string(),
            uri: request.uri().to_string(),
            headers: request.headers().clone(),
            body: String::from_utf8_lossy(request.body()).into_owned(),
        });
        let answer = self
            .answers
            .lock()
            .unwrap()
            .iter_mut()
            .find(|(p, _)| *p == path)
            .and_then(|(_, queue)| queue.pop_front());
        Box::pin(async move {
            answer.unwrap_or_else(|| {
                Err(TransportError::Other {
                    host: "scripted".into(),
                    reason: format!("no scripted answer for {path}"),
                })
            })
        })
    }
}

pub const TOKEN_JSON: &str = r#"{"access_token":"at-first-0001","refresh_token":"rt-first-0001","token_type":"Bearer","expires_in":3600,"scope":"api_keys_write"}"#;
pub const KEY_JSON: &str = r#"{"data":{"type":"api_keys","id":"key-id-1","attributes":{"created_at":"2026-01-01T00:00:00+00:00","key":"0123456789abcdef0123456789abcdef","last4":"cdef","modified_at":"2026-01-01T00:00:00+00:00","name":"ddlink OAuth Client API Key"}}}"#;
