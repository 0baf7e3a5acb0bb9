//! ddlink edge gateway.
