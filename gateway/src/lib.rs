//! ddlink edge gateway: Datadog OAuth + PKCE handshake, API-key creation, encrypted store and
//! admin page.
//!
//! Entry points: [`run`] (serve a [`Config`] on a listener until a shutdown future completes,
//! e.g. [`shutdown_signal`]) and [`Gateway`] (the same in steps, for tests and the
//! `ddlink-sandbox` crate).
//!
//! ---
//!
#![doc = include_str!("../README.md")]

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
pub mod server;
pub mod state;
pub mod store;
pub mod tenants;
pub mod throttle;
pub mod upkeep;
pub mod web;

pub use app::{Gateway, create_private_dir, reseal_all, run, write_private_file};
pub use config::Config;

/// What a binary's `main` does (the gateway's and the sandbox's): logs to stderr (`RUST_LOG`,
/// default `info`), runs `job` on a multi-threaded runtime and prints its error, if any.
pub fn run_binary(
    job: impl std::future::Future<Output = anyhow::Result<()>>,
) -> std::process::ExitCode {
    use tracing_subscriber::EnvFilter;
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(job) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
