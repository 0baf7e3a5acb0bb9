//! The production-style `Config` every gateway test binary starts from (all nine regions, a
//! generated master key in `dir`, the admin token given), shared through `#[path]`.

use std::path::Path;

use ddlink_gateway::clock::Clock;
use ddlink_gateway::config::{AdminCredential, Config, MasterKeySource, SitePolicy, Timings};
use ddlink_gateway::store::DbOptions;
use secrecy::SecretString;

pub fn gateway_config(
    dir: &Path,
    public_url: &str,
    database: DbOptions,
    admin_token: &str,
    client_secret: &str,
) -> Config {
    Config {
        public_url: url::Url::parse(public_url).unwrap(),
        database,
        client_id: "test-client".into(),
        client_secret: SecretString::from(client_secret.to_owned()),
        scopes: vec!["api_keys_write".into()],
        master_key: MasterKeySource::FileOrGenerate(dir.join("master.key")),
        previous_master_keys: Vec::new(),
        admin: AdminCredential::Token(SecretString::from(admin_token.to_owned())),
        sites: SitePolicy::all_regions(),
        timings: Timings::default(),
        resolve: Vec::new(),
        tile_url: None,
        clock: Clock::system(),
    }
}
