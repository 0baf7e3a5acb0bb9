//! The wall clock fed by peers: each input line is one answer's `Date` header (as a Datadog
//! response or the gateway would send it) preceded by two bytes of round trip and two of ticks
//! elapsed since the previous answer. Syncing never panics, refuses only inconsistent ticks, and
//! always leaves the clock inside the window the sample allows.
#![no_main]

use ddlink_core::clock::{TimeSample, WallClock};
use ddlink_core::http::parse_http_date;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut clock = WallClock::new();
    let mut tick_ms: u64 = 0;
    for line in data.split(|&byte| byte == b'\n') {
        let Some((timing, date)) = line.split_first_chunk::<4>() else {
            continue;
        };
        let round_trip_ms = u64::from(u16::from_le_bytes([timing[0], timing[1]]));
        tick_ms = tick_ms.saturating_add(u64::from(u16::from_le_bytes([timing[2], timing[3]])));
        // A Date value, or failing that the same bytes as a raw server time (a sealed
        // `server_time` can be any u64 the gateway chooses).
        let server_unix_s = parse_http_date(date).unwrap_or_else(|| {
            let mut raw = [0u8; 8];
            let len = date.len().min(8);
            raw[..len].copy_from_slice(&date[..len]);
            u64::from_le_bytes(raw)
        });
        let sample = TimeSample {
            server_unix_s,
            sent_at_ms: tick_ms.saturating_sub(round_trip_ms),
            received_at_ms: tick_ms,
        };
        let round_trip_ms = sample.received_at_ms - sample.sent_at_ms;
        clock
            .sync(sample)
            .expect("ticks never go backwards here, so every sample is usable");
        let now = clock.now_unix_ms(tick_ms).expect("synced at this tick");
        let earliest = server_unix_s.saturating_mul(1_000);
        let latest = earliest.saturating_add(999).saturating_add(round_trip_ms);
        assert!(
            (earliest..=latest).contains(&now),
            "{now} outside [{earliest}, {latest}]"
        );
        assert_eq!(clock.now_unix_s(tick_ms), Ok(now / 1_000));
    }
});
