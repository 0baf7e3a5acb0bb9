//! `ddlink-core`: sans-I/O building blocks for devices that report to Datadog.
#![no_std]
#![forbid(unsafe_code)]
