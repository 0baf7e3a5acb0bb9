//! Shared helpers for the end-to-end tests: run a sandbox [`World`] (emulator, gateway, consent,
//! fleet, HTTPS intake, simulated devices) while a second thread disturbs it, then check the
//! accounting against what the emulator received.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use ddlink_emulator::{FaultAction, FaultSpec, RateLimit, SeriesRecord};
pub use ddlink_firmware_example::sim::world::tally::{DeviceRun, Tally};
pub use ddlink_firmware_example::sim::world::{DeviceNetwork, IntakeTrust, World, WorldConfig};
use ddlink_gateway::store::DbOptions;

/// The intake endpoints the example firmware posts to.
pub const INTAKE_PATHS: [&str; 4] = [
    "/api/v2/series",
    "/api/v1/check_run",
    "/api/v1/events",
    "/api/v2/logs",
];

/// The tag every point of the example firmware carries.
pub const FIRMWARE_TAG: &str = "firmware:ddlink-example";

/// What a run produced.
#[derive(Debug)]
pub struct Outcome {
    pub world: World,
    pub runs: Vec<DeviceRun>,
    pub tally: Tally,
    pub elapsed: Duration,
}

/// Starts a world, runs its devices on this thread and `meanwhile` on another (it gets the world
/// and returns when done), then tallies. Panics with the error if the world cannot start.
pub fn run_world(config: WorldConfig, meanwhile: impl FnOnce(&World) + Send) -> Outcome {
    let world = World::start(config).unwrap_or_else(|e| panic!("sandbox world: {e:#}"));
    let started = Instant::now();
    let runs = std::thread::scope(|scope| {
        let side = scope.spawn(|| meanwhile(&world));
        let runs = futures_lite::future::block_on(world.run_devices());
        if let Err(panic) = side.join() {
            std::panic::resume_unwind(panic);
        }
        runs
    })
    .unwrap_or_else(|e| panic!("devices: {e:#}"));
    let elapsed = started.elapsed();
    let tally = world.tally(&runs);
    println!("{}\n{tally}\nelapsed: {elapsed:.1?}", tally.details());
    Outcome {
        world,
        runs,
        tally,
        elapsed,
    }
}

/// Asserts the run lost nothing and every device provisioned.
pub fn assert_nothing_lost(outcome: &Outcome) {
    let t = &outcome.tally;
    assert_eq!(
        t.provisioned, t.devices,
        "not every device provisioned: {t:?}"
    );
    assert_eq!(t.lost, 0, "points were lost: {t:?}\n{:#?}", outcome.runs);
    assert_eq!(
        t.missing, 0,
        "accepted points missing in the emulator: {t:?}"
    );
    assert_eq!(
        t.points_queued, 0,
        "points still queued at the end (drain too short?): {t:?}\n{:#?}",
        outcome.runs
    );
    assert_eq!(
        t.points_dropped, 0,
        "points dropped: {t:?}\n{:#?}",
        outcome.runs
    );
    assert!(t.points_sent > 0, "no point was sampled: {t:?}");
}

/// Series the emulator received from `device_id`.
pub fn series_of<'a>(received: &'a [SeriesRecord], device_id: &str) -> Vec<&'a SeriesRecord> {
    received
        .iter()
        .filter(|s| s.host.as_deref() == Some(device_id))
        .collect()
}

/// Requests to the intake endpoints the emulator answered (any status).
pub fn intake_requests(world: &World) -> Vec<ddlink_emulator::RequestRecord> {
    world
        .emulator()
        .requests()
        .into_iter()
        .filter(|r| INTAKE_PATHS.contains(&r.path.as_str()))
        .collect()
}

/// A deterministic schedule of `count` faults for every non-test path: about
/// `per_mille / 1000` of the requests get 500, 503, 429 (with `X-RateLimit-*`, reset 1 s) or a
/// dropped connection, in turn; the others pass (a zero delay, which consumes one slot).
pub fn fault_schedule(count: usize, per_mille: u64, seed: u64) -> Vec<FaultSpec> {
    let mut state = seed;
    let mut faulty = 0u32;
    (0..count)
        .map(|_| {
            let action = if splitmix(&mut state) % 1000 < per_mille {
                faulty += 1;
                match faulty % 4 {
                    0 => status(500, None),
                    1 => status(503, None),
                    2 => status(
                        429,
                        Some(RateLimit {
                            limit: 100,
                            period: 10,
                            remaining: 0,
                            reset: 1,
                            name: Some("metrics".into()),
                        }),
                    ),
                    _ => FaultAction::Drop,
                }
            } else {
                FaultAction::Delay { millis: 0 }
            };
            FaultSpec {
                path: "*".into(),
                count: 1,
                action,
            }
        })
        .collect()
}

fn status(status: u16, rate_limit: Option<RateLimit>) -> FaultAction {
    FaultAction::Status {
        status,
        body: None,
        rate_limit,
    }
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The process's peak resident set size (`VmHWM` in `/proc/self/status`), in KiB.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Distinct device ids among `runs`.
pub fn device_ids(runs: &[DeviceRun]) -> BTreeSet<&str> {
    runs.iter().map(|r| r.device_id.as_str()).collect()
}

/// A gateway database an end-to-end scenario runs on.
#[derive(Debug)]
pub struct TestDatabase {
    /// `sqlite` or `postgres`, for messages.
    pub name: &'static str,
    /// For [`WorldConfig::database`]; `None` is the world's own SQLite file.
    pub options: Option<DbOptions>,
}

/// SQLite, then PostgreSQL (a fresh schema, see [`TestDatabase::drop_schema`]) when
/// `DDLINK_TEST_POSTGRES_URL` is set (CI sets it); without it the PostgreSQL run is skipped
/// with a note.
pub fn test_databases(prefix: &str) -> Vec<TestDatabase> {
    let mut databases = vec![TestDatabase {
        name: "sqlite",
        options: None,
    }];
    match std::env::var("DDLINK_TEST_POSTGRES_URL") {
        Ok(url) => {
            let schema = format!(
                "{prefix}_{}",
                ddlink_gateway::crypto::random_token(9)
                    .expect("random schema name")
                    .to_lowercase()
                    .replace(['-', '_'], "x")
            );
            databases.push(TestDatabase {
                name: "postgres",
                options: Some(DbOptions {
                    schema: Some(schema),
                    ..DbOptions::new(url)
                }),
            });
        }
        Err(_) => eprintln!(
            "PostgreSQL run not done: set DDLINK_TEST_POSTGRES_URL=postgres://… (CI does)"
        ),
    }
    databases
}

impl TestDatabase {
    /// Drops the PostgreSQL schema the scenario ran in (nothing for SQLite, whose file goes
    /// with the world's directory). Panics if PostgreSQL refuses.
    pub fn drop_schema(&self) {
        let Some(DbOptions {
            url,
            schema: Some(schema),
            ..
        }) = &self.options
        else {
            return;
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime to drop the schema");
        runtime.block_on(async {
            use sqlx::Connection as _;
            let mut connection = sqlx::PgConnection::connect(url)
                .await
                .expect("connecting to PostgreSQL to drop the test schema");
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA \"{schema}\" CASCADE"
            )))
            .execute(&mut connection)
            .await
            .expect("dropping the test schema");
        });
    }
}
