//! Example device firmware for ddlink: provisions from the gateway, samples sensors, encodes
//! telemetry and submits it to Datadog through `ddlink_core::net`.
//!
//! The application logic ([`device`], [`provision_client`], [`lease`], [`sensors`], [`clock`]) is `no_std` and
//! generic over the network traits, the tick source and the RNG, so the same code runs on a
//! board and, with feature `sim` (on by default), in the desktop simulator ([`sim`]).
//! [`factory`] reads the per-device data a board is flashed with; [`report_line`] is what a
//! board under test prints when its run ends. The QEMU board image itself lives in
//! `src/board/` (a binary, since its register access needs `unsafe`).
#![cfg_attr(not(feature = "sim"), no_std)]
#![forbid(unsafe_code)]

pub mod clock;
pub mod device;
pub mod factory;
pub mod lease;
pub mod provision_client;
pub mod report_line;
pub mod sensors;

#[cfg(feature = "sim")]
pub mod sim;
