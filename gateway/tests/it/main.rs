//! Gateway integration tests, in one binary to keep link time down.
//!
//! - `router`: the router through `tower::ServiceExt::oneshot` with a scripted HTTP transport.
//! - `lifecycle`: `run` with graceful shutdown, first-run admin token, PostgreSQL gateway.
//! - `store`: the store suite on SQLite, and on PostgreSQL when `DDLINK_TEST_POSTGRES_URL` is set.
//! - `key_life`: uninstall and key revocation detected (scripted Datadog), reconnecting, the
//!   `ddlink_connections` gauge; on SQLite, and on PostgreSQL when `DDLINK_TEST_POSTGRES_URL` is set.
//! - `provision`: device provisioning end to end, a real gateway on a loopback port and devices
//!   built from `ddlink_core::provision`; on SQLite, and on PostgreSQL when set.
//! - `tenants`: carrying an old database over, the tile flow per tenant, invites, isolation.
//!
//! The flows against a real emulator and the Chromium tests live in the `ddlink-sandbox` crate.

mod common;
mod key_life;
mod lifecycle;
mod provision;
mod router;
mod store;
mod tenants;
