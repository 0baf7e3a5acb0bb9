//! Local Datadog emulator.
