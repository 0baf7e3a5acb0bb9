//! Fleets: creation (a random fleet key, stored sealed), lookup with a short-lived cache of
//! opened keys, and the factory derivation of device secrets.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ddlink_core::provision::{
    DeviceSecret, FLEET_KEY_LEN, LEASE_MAX_SECS, LEASE_MIN_SECS, derive_device_secret,
    validate_fleet,
};
use zeroize::Zeroizing;

use super::store::{FLEETS, FleetRow, NewFleet, ProvisionStore};
use crate::crypto::{CryptoError, KeyRing, SealContext};
use crate::store::StoreError;
use crate::store::tenant::TenantId;

/// The lease of a fleet created without one: a day, so a gateway decision (a revoked device or
/// key, an uninstalled integration) reaches every device within a day even if it cannot reach
/// the gateway in between.
pub const DEFAULT_LEASE_SECS: u32 = 86_400;

/// How long an opened fleet key is reused before the row is read again.
const CACHE_TTL: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("fleet names must match [a-z0-9._-]{{1,64}}")]
    InvalidName,
    #[error("device ids must match [a-z0-9._-]{{1,64}}")]
    InvalidDeviceId,
    #[error("fleet `{0}` already exists")]
    Exists(String),
    #[error("no fleet named `{0}`")]
    Unknown(String),
    #[error(
        "a lease must be {LEASE_MIN_SECS} to {LEASE_MAX_SECS} seconds (10 s to 30 days), not {0}"
    )]
    InvalidLease(u64),
    #[error("the tenant has no connection `{0}`")]
    UnknownConnection(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// An opened fleet: its tenant, key (wiped on drop) and policy.
pub struct Fleet {
    pub name: String,
    pub tenant: TenantId,
    key: Zeroizing<[u8; FLEET_KEY_LEN]>,
    pub auto_approve: bool,
    /// Seconds a device may use the key from each approval.
    pub lease_secs: u32,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("name", &self.name)
            .field("tenant", &self.tenant)
            .field("auto_approve", &self.auto_approve)
            .field("lease_secs", &self.lease_secs)
            .finish_non_exhaustive()
    }
}

impl Fleet {
    /// `device_secret` of `device_id` in this fleet (`docs/PROTOCOL.md`, factory step).
    pub fn device_secret(&self, device_id: &str) -> Result<DeviceSecret, FleetError> {
        derive_device_secret(self.key.as_ref(), &self.name, device_id)
            .map_err(|_| FleetError::InvalidDeviceId)
    }

    /// The raw fleet key (the sandbox hands it to simulated factories).
    pub fn key(&self) -> &[u8; FLEET_KEY_LEN] {
        &self.key
    }
}

fn seal_context(name: &str) -> SealContext<'_> {
    SealContext::new(FLEETS, "fleet_key", name)
}

fn open(keys: &KeyRing, row: &FleetRow) -> Result<Fleet, FleetError> {
    let opened = keys.open(&seal_context(&row.name), &row.sealed_key)?;
    let key: [u8; FLEET_KEY_LEN] = opened.as_slice().try_into().map_err(|_| {
        FleetError::Store(StoreError::Corrupt {
            table: FLEETS,
            column: "fleet_key",
        })
    })?;
    Ok(Fleet {
        name: row.name.clone(),
        tenant: row.tenant.clone(),
        key: Zeroizing::new(key),
        auto_approve: row.auto_approve,
        lease_secs: row.lease_secs,
    })
}

/// A lease in seconds, if it is within what devices accept (10 s to 30 days).
pub fn lease_secs(secs: u64) -> Result<u32, FleetError> {
    u32::try_from(secs)
        .ok()
        .filter(|secs| (LEASE_MIN_SECS..=LEASE_MAX_SECS).contains(secs))
        .ok_or(FleetError::InvalidLease(secs))
}

/// What a new fleet is.
#[derive(Debug, Clone, Copy)]
pub struct FleetSpec<'a> {
    pub tenant: &'a TenantId,
    /// `[a-z0-9._-]{1,64}`, unique across tenants (devices send only the fleet name).
    pub name: &'a str,
    pub auto_approve: bool,
    /// One of the tenant's connections, whose key the fleet's devices get (`None`: unbound).
    pub connection_id: Option<&'a str>,
}

/// Creates a fleet of a tenant with a fresh random key and the [`DEFAULT_LEASE_SECS`] lease.
pub async fn create(
    store: &ProvisionStore,
    keys: &KeyRing,
    spec: &FleetSpec<'_>,
    now: i64,
) -> Result<Fleet, FleetError> {
    create_leased(store, keys, spec, DEFAULT_LEASE_SECS, now).await
}

/// Creates a fleet of a tenant with a fresh random key whose devices get `lease_secs` leases
/// (checked with [`lease_secs`]).
pub async fn create_leased(
    store: &ProvisionStore,
    keys: &KeyRing,
    spec: &FleetSpec<'_>,
    lease_secs: u32,
    now: i64,
) -> Result<Fleet, FleetError> {
    let name = spec.name;
    let lease_secs = self::lease_secs(u64::from(lease_secs))?;
    validate_fleet(name).map_err(|_| FleetError::InvalidName)?;
    if let Some(connection) = spec.connection_id
        && !store.has_connection(spec.tenant, connection).await?
    {
        return Err(FleetError::UnknownConnection(connection.to_owned()));
    }
    let mut key = Zeroizing::new([0u8; FLEET_KEY_LEN]);
    getrandom::fill(key.as_mut()).map_err(|_| CryptoError::Random)?;
    let sealed_key = keys.seal(&seal_context(name), key.as_ref())?;
    let row = NewFleet {
        name,
        sealed_key: &sealed_key,
        auto_approve: spec.auto_approve,
        connection_id: spec.connection_id,
        created_at: now,
        lease_secs,
    };
    if !store.insert_fleet(spec.tenant, &row).await? {
        return Err(FleetError::Exists(name.to_owned()));
    }
    Ok(Fleet {
        name: name.to_owned(),
        tenant: spec.tenant.clone(),
        key,
        auto_approve: spec.auto_approve,
        lease_secs,
    })
}

/// Opens a stored fleet by its name, whichever tenant it belongs to (fleet names are unique;
/// the factory's `device-secret` step).
pub async fn load(store: &ProvisionStore, keys: &KeyRing, name: &str) -> Result<Fleet, FleetError> {
    validate_fleet(name).map_err(|_| FleetError::InvalidName)?;
    let row = store
        .fleet_for_device(name)
        .await?
        .ok_or_else(|| FleetError::Unknown(name.to_owned()))?;
    open(keys, &row)
}

/// Binds the tenant's fleet to one of its connections (`None`: unbinds it).
pub async fn bind(
    store: &ProvisionStore,
    tenant: &TenantId,
    name: &str,
    connection_id: Option<&str>,
) -> Result<(), FleetError> {
    if store.fleet(tenant, name).await?.is_none() {
        return Err(FleetError::Unknown(name.to_owned()));
    }
    if !store.bind_fleet(tenant, name, connection_id).await? {
        return Err(FleetError::UnknownConnection(
            connection_id.unwrap_or_default().to_owned(),
        ));
    }
    Ok(())
}

/// Names remembered as "no such fleet" at most (an attacker can name any number of fleets).
const ABSENT_CACHED: usize = 4096;

/// Opened fleets by name, each reused for `CACHE_TTL` (keys never change; the TTL bounds
/// how long a policy change made by another instance takes to be seen). Names without a fleet
/// are remembered the same way, so that a request naming an unknown fleet costs what one naming
/// a known fleet does (no timing oracle for fleet names).
#[derive(Default)]
pub struct FleetCache {
    entries: Mutex<HashMap<String, CachedLookup>>,
}

/// When a name was looked up, and the fleet if there is one.
type CachedLookup = (Instant, Option<std::sync::Arc<Fleet>>);

impl std::fmt::Debug for FleetCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FleetCache(..)")
    }
}

/// A fleet found by [`FleetCache::get_or_decoy`].
#[derive(Debug)]
pub enum Lookup {
    Known(std::sync::Arc<Fleet>),
    /// No such fleet: a stand-in of that name with an all-zero key, so that the request takes
    /// the same path (derivation, MAC check) as one for a known fleet. It is refused whatever
    /// its MAC, so the key need not be secret.
    Unknown(Fleet),
}

impl Lookup {
    pub fn fleet(&self) -> &Fleet {
        match self {
            Self::Known(fleet) => fleet,
            Self::Unknown(fleet) => fleet,
        }
    }
}

impl FleetCache {
    /// The fleet, or `None` if no such fleet exists.
    pub async fn get(
        &self,
        store: &ProvisionStore,
        keys: &KeyRing,
        name: &str,
    ) -> Result<Option<std::sync::Arc<Fleet>>, FleetError> {
        if let Some(cached) = self.cached(name) {
            return Ok(cached);
        }
        let fleet = match store.fleet_for_device(name).await? {
            Some(row) => Some(std::sync::Arc::new(open(keys, &row)?)),
            None => None,
        };
        if let Ok(mut entries) = self.entries.lock() {
            let absent = entries.values().filter(|(_, f)| f.is_none()).count();
            if fleet.is_some() || absent < ABSENT_CACHED {
                entries.insert(name.to_owned(), (Instant::now(), fleet.clone()));
            } else {
                entries.retain(|_, (at, _)| at.elapsed() < CACHE_TTL);
            }
        }
        Ok(fleet)
    }

    /// The fleet, or a decoy of that name that takes the same path through MAC verification.
    pub async fn get_or_decoy(
        &self,
        store: &ProvisionStore,
        keys: &KeyRing,
        name: &str,
    ) -> Result<Lookup, FleetError> {
        Ok(match self.get(store, keys, name).await? {
            Some(fleet) => Lookup::Known(fleet),
            None => Lookup::Unknown(Fleet {
                name: name.to_owned(),
                tenant: TenantId::default_tenant(),
                key: Zeroizing::new([0; FLEET_KEY_LEN]),
                auto_approve: false,
                lease_secs: DEFAULT_LEASE_SECS,
            }),
        })
    }

    fn cached(&self, name: &str) -> Option<Option<std::sync::Arc<Fleet>>> {
        let entries = self.entries.lock().ok()?;
        let (at, fleet) = entries.get(name)?;
        (at.elapsed() < CACHE_TTL).then(|| fleet.clone())
    }
}

/// Opens the tenant's fleet `spec.name`, creating it first with `lease_secs` leases if it does
/// not exist (the sandbox's fleets; an existing one keeps its lease). A fleet of that name in
/// another tenant is an error.
pub async fn ensure(
    store: &ProvisionStore,
    keys: &KeyRing,
    spec: &FleetSpec<'_>,
    lease_secs: u32,
    now: i64,
) -> Result<Fleet, FleetError> {
    match create_leased(store, keys, spec, lease_secs, now).await {
        Err(FleetError::Exists(name)) => match store.fleet(spec.tenant, &name).await? {
            Some(row) => open(keys, &row),
            None => Err(FleetError::Exists(name)),
        },
        other => other,
    }
}
