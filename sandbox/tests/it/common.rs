//! Shared test settings: the admin token and client secret, and a sandbox-policy gateway
//! configuration built on the gateway tests' production-style one.

use ddlink_core::site::Site;
use ddlink_gateway::config::{Config, SitePolicy};
use ddlink_gateway::store::{DbOptions, sqlite_url_for_path};

#[path = "../../../gateway/tests/gateway_config/mod.rs"]
mod gateway_config;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
pub const CLIENT_SECRET: &str = "test-client-secret-s3cr3t";

/// A sandbox-policy configuration (SQLite in `dir`) for the emulator at `domain`.
pub fn sandbox_config(dir: &std::path::Path, public_url: &str, domain: &str) -> Config {
    let database = DbOptions::new(sqlite_url_for_path(&dir.join("ddlink.db")));
    Config {
        sites: SitePolicy::Sandbox(Site::sandbox(domain).unwrap()),
        ..gateway_config::gateway_config(dir, public_url, database, ADMIN_TOKEN, CLIENT_SECRET)
    }
}
