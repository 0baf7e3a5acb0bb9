//! Sandbox integration tests, in one binary to keep link time down.
//!
//! - `flow`: a real gateway and the Datadog emulator on loopback ports (the sandbox world, and
//!   gateways misconfigured against an emulator).
//! - `provision`: the sandbox fleet provisions a device that gets the stored key.
//! - `tenants`: several tenants, each with its own org and fleet.
//! - `browser`: the admin page and the tile flow in headless Chromium (one tenant, and two
//!   tenants in two browser profiles), when `DDLINK_TEST_BROWSER=1`.

mod browser;
mod common;
mod flow;
mod provision;
mod tenants;
