//! Command-line settings for a test state directory, shared through `#[path]` by the test
//! binaries that run the CLI commands.

use std::path::Path;

/// Command-line settings for a state directory `dir` (writes the client-secret file there).
pub fn cli_settings(dir: &Path) -> ddlink_gateway::config::layering::ServeArgs {
    let secret_file = dir.join("client-secret");
    std::fs::write(&secret_file, "cli-secret\n").unwrap();
    ddlink_gateway::config::layering::ServeArgs {
        config: None,
        listen: None,
        public_url: Some("http://127.0.0.1:8080".into()),
        database_url: None,
        state_dir: Some(dir.to_owned()),
        client_id: Some("cli-client".into()),
        client_secret_file: Some(secret_file),
        master_key_file: None,
        allowed_domains: None,
        validate_interval_secs: None,
    }
}
