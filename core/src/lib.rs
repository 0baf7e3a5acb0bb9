//! `ddlink-core`: sans-I/O building blocks for devices that report to Datadog.
//!
//! Everything here is `no_std`, allocation-free and panic-free on any input: encoders write into a
//! caller's `&mut [u8]`, parsers borrow their input, and every failure is a small `Copy` error
//! value. See the crate README for the supported feature set, limits and footprint.
//!
//! - [`site`]: the nine Datadog sites (plus an explicit emulator sandbox), their API, logs and app
//!   hosts, and validation of the OAuth onboarding `site` / `domain` parameters.
//! - [`http`]: request heads for the intake endpoints, response-head parsing (`Date`,
//!   `Retry-After`, `X-RateLimit-*`) and [`http::classify`]: accept, retry, drop or re-provision.
//! - [`retry`]: capped exponential back-off with jitter that honours server-requested delays.
//! - [`clock`]: wall time from a trusted sample (`Date`, the gateway's `server_time`) plus ticks.
//! - [`provision`]: the device side of provisioning protocol v1 (challenge, MAC, sealed API key),
//!   plus the shared crypto the gateway uses.
//!
//! ---
//!
#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[macro_use]
mod log_shim;

pub mod clock;
pub mod http;
pub mod retry;
pub mod site;

mod inline_str;

#[cfg(feature = "deflate")]
pub mod deflate;

pub mod checks;
pub mod events;
pub mod intake;
pub mod json;
pub mod logs;
pub mod metrics;
pub mod provision;

#[cfg(feature = "net")]
pub mod net;
