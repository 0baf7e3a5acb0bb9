//! ddlink edge gateway: Datadog OAuth + PKCE handshake, API-key creation, encrypted store,
//! admin page and the local sandbox.
//!
//! Entry points: [`run`] (serve a [`Config`] on a listener until a shutdown future completes),
//! [`Gateway`] (the same in steps, for tests), and `sandbox::start` (emulator + gateway).

mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod connections;
pub mod crypto;
pub mod datadog;
pub mod http_client;
pub mod metrics;
pub mod provision;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod server;
pub mod state;
pub mod store;
pub mod tenants;
pub mod throttle;
pub mod upkeep;
pub mod web;

pub use app::{Gateway, create_private_dir, reseal_all, run, write_private_file};
pub use config::Config;
