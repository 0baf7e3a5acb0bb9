//! `ddlink-emulator`: runs the Datadog emulator until SIGINT or SIGTERM.
//!
//! The first stdout line is `listening on http://HOST:PORT` (or `https://…`); the
//! following lines give the sandbox domain, the generated test API token (unless one was
//! given) and, with `--tls-dir`, the CA file.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ddlink_emulator::{
    DEFAULT_DOMAIN, Emulator, EmulatorConfig, OAuthClient, OrgConfig, TlsConfig,
};

#[derive(Debug, Parser)]
#[command(
    version,
    about = "A local stand-in for Datadog's OAuth, key-management and intake APIs (tests and demos only)"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Sandbox domain (host name without port); `*.localhost` resolves to loopback.
    #[arg(long, default_value = DEFAULT_DOMAIN)]
    domain: String,
    /// Serve HTTPS with generated certificates; the root (trust anchor) is written to
    /// DIR/ca.pem and RSA keys are cached in DIR.
    #[arg(long, value_name = "DIR")]
    tls_dir: Option<PathBuf>,
    /// Certificate chain with --tls-dir: `rsa` (RSA-4096 root, RSA-2048 intermediate and leaf,
    /// about 5 KB, like Datadog's intake) or `ecdsa` (one P-256 CA, leaf sent alone).
    #[arg(long, value_name = "rsa|ecdsa", default_value = "rsa")]
    tls_key_type: ddlink_emulator::pki::KeyType,
    /// Register an OAuth client: ID:SECRET:REDIRECT_URI:ONBOARDING_URL. ID and SECRET must
    /// not contain ':'; the two URLs are split where the second `:http://` or `:https://` begins.
    #[arg(long = "client", value_name = "ID:SECRET:REDIRECT_URI:ONBOARDING_URL", value_parser = parse_client)]
    clients: Vec<OAuthClient>,
    /// Scopes of every registered client (space separated).
    #[arg(long, default_value = "api_keys_write")]
    scopes: String,
    /// Name of the OAuth client(s) shown on the tile and in key names.
    #[arg(long, default_value = "ddlink")]
    client_name: String,
    /// Pre-register a valid API key (repeatable).
    #[arg(long = "api-key", value_name = "KEY")]
    api_keys: Vec<String>,
    /// Organisation display name (sent back as dd_org_name).
    #[arg(long)]
    org_name: Option<String>,
    /// Bearer token for the /_emulator/ test API (at least 16 characters); without it one is
    /// generated and printed on stdout as `test-api-token TOKEN`.
    #[arg(long, env = "DDLINK_EMULATOR_TEST_API_TOKEN", hide_env_values = true)]
    test_api_token: Option<String>,
}

fn parse_client(value: &str) -> Result<OAuthClient, String> {
    let usage = "expected ID:SECRET:REDIRECT_URI:ONBOARDING_URL";
    let (id, rest) = value.split_once(':').ok_or(usage)?;
    let (secret, urls) = rest.split_once(':').ok_or(usage)?;
    // The onboarding URL starts at the first ":http://" or ":https://" after the redirect URI's own scheme.
    let split = ["http://", "https://"]
        .iter()
        .filter_map(|scheme| {
            urls.get(1..)
                .and_then(|tail| tail.find(&format!(":{scheme}")))
                .map(|i| i + 1)
        })
        .min()
        .ok_or(usage)?;
    let (redirect_uri, onboarding) = (
        urls.get(..split).unwrap_or_default(),
        urls.get(split + 1..).unwrap_or_default(),
    );
    let is_url = |u: &str| u.starts_with("http://") || u.starts_with("https://");
    if id.is_empty() || secret.is_empty() || !is_url(redirect_uri) || !is_url(onboarding) {
        return Err(usage.to_owned());
    }
    Ok(OAuthClient::new(id, secret, redirect_uri, onboarding))
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ddlink-emulator: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let scopes: Vec<String> = args
        .scopes
        .split_ascii_whitespace()
        .map(str::to_owned)
        .collect();
    let clients = args
        .clients
        .into_iter()
        .map(|mut c| {
            c.scopes.clone_from(&scopes);
            c.name.clone_from(&args.client_name);
            c
        })
        .collect();
    let mut org = OrgConfig::default();
    if let Some(name) = args.org_name {
        org.name = name;
    }
    let print_token = args.test_api_token.is_none();
    let config = EmulatorConfig {
        domain: args.domain,
        tls: args.tls_dir.map(|dir| TlsConfig {
            dir,
            key_type: args.tls_key_type,
        }),
        clients,
        api_keys: args.api_keys,
        frozen_clock: None,
        orgs: vec![org],
        test_api_token: args.test_api_token,
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let handle = Emulator::start(config, listener)
        .await
        .map_err(|e| e.to_string())?;
    {
        let mut out = std::io::stdout().lock();
        let addr = handle.local_addr();
        let lines = [
            Some(format!("listening on {}://{addr}", handle.scheme())),
            Some(format!("domain {}", handle.domain())),
            Some(format!("site {}", handle.app_url())),
            print_token.then(|| format!("test-api-token {}", handle.test_api_token())),
            handle.ca_path().map(|p| format!("ca {}", p.display())),
        ];
        for line in lines.iter().flatten() {
            writeln!(out, "{line}").map_err(|e| e.to_string())?;
        }
        out.flush().map_err(|e| e.to_string())?;
    }
    wait_for_signal().await?;
    handle.shutdown().await;
    Ok(())
}

async fn wait_for_signal() -> Result<(), String> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.map_err(|e| format!("cannot handle SIGINT: {e}")),
        _ = terminate.recv() => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_values_split_at_the_url_boundary() {
        let c = parse_client(
            "id:sec:http://localhost:8080/oauth/callback:http://localhost:8080/oauth/onboard",
        )
        .unwrap();
        assert_eq!(c.client_id, "id");
        assert_eq!(
            c.redirect_uris,
            vec!["http://localhost:8080/oauth/callback".to_owned()]
        );
        assert_eq!(c.onboarding_url, "http://localhost:8080/oauth/onboard");
        let c = parse_client("id:sec:https://a.example/cb:http://b.example/on").unwrap();
        assert_eq!(c.redirect_uris[0], "https://a.example/cb");
        assert_eq!(c.onboarding_url, "http://b.example/on");
        for bad in [
            "id:sec:http://x",
            "id",
            ":sec:http://a:http://b",
            "id:sec:ftp://a:http://b",
        ] {
            assert!(parse_client(bad).is_err(), "{bad}");
        }
    }
}
