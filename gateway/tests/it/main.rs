//! Gateway integration tests, in one binary to keep link time down.
//!
//! - `router`: the router through `tower::ServiceExt::oneshot` with a scripted HTTP transport.
//! - `flow`: a real gateway and the Datadog emulator on loopback ports.
//! - `lifecycle`: `run` with graceful shutdown, first-run admin token, PostgreSQL gateway.
//! - `store`: the store suite on SQLite, and on PostgreSQL when `DDLINK_TEST_POSTGRES_URL` is set.
//! - `tenants`: carrying an old database over, the tile flow per tenant, invites, isolation.
//! - `browser`: the admin page in headless Chromium, when `DDLINK_TEST_BROWSER=1`.

#[cfg(feature = "sandbox")]
mod browser;
mod common;
#[cfg(feature = "sandbox")]
mod flow;
mod lifecycle;
mod router;
mod store;
mod tenants;
