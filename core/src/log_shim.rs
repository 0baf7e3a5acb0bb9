//! Logging shim: forwards to `defmt` and/or `log` when those features are on, and compiles to
//! nothing otherwise (arguments are still borrowed, so no unused-variable warnings).
//!
//! Never pass a secret (API key, device secret, token) to these macros.

/// Logs a notable but expected event (a clock step, a refused sample).
macro_rules! debug {
    ($format:literal $(, $argument:expr)* $(,)?) => {{
        #[cfg(feature = "log")]
        ::log::debug!($format $(, $argument)*);
        #[cfg(feature = "defmt")]
        ::defmt::debug!($format $(, $argument)*);
        #[cfg(not(any(feature = "log", feature = "defmt")))]
        let _ = ($(&$argument,)*);
    }};
}
