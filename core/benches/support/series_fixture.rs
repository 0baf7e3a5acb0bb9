//! The `/api/v2/series` batch both `json_encode` and `deflate` measure: 10 series of 100 points,
//! as a device sends after batching 100 samples of 10 sensors (one point per 10 s).
//!
//! Half the series are gauges of computed floats (17 significant digits, the hard case for the
//! float formatter and the compressor), half counters with whole values.

use ddlink_core::metrics::{MetricType, Point, Resource, Series, SeriesBatch};

/// POSIX seconds of the newest point; also the `now` the points are validated against.
pub const NOW: i64 = 1_700_000_000;
pub const SERIES_COUNT: usize = 10;
pub const POINTS_PER_SERIES: usize = 100;
const TAGS: [&str; 3] = ["env:prod", "region:eu-west-1", "fw:1.4.2"];
const RESOURCES: [Resource<'static>; 1] = [Resource::host("sensor-0042")];

/// The owned data the borrowed [`Series`] point into.
pub struct Fixture {
    names: Vec<String>,
    points: Vec<Vec<Point>>,
}

pub fn fixture() -> Fixture {
    let point = |series: usize, index: usize| {
        let timestamp = NOW - 10 * (POINTS_PER_SERIES - 1 - index) as i64;
        let value = if series.is_multiple_of(2) {
            20.0 + 5.0 * ((series * POINTS_PER_SERIES + index) as f64 * 0.1).sin()
        } else {
            ((series * 31 + index * 17) % 50) as f64
        };
        Point::new(timestamp, value)
    };
    Fixture {
        names: (0..SERIES_COUNT)
            .map(|series| format!("app.request.latency.p{series}"))
            .collect(),
        points: (0..SERIES_COUNT)
            .map(|series| (0..POINTS_PER_SERIES).map(|i| point(series, i)).collect())
            .collect(),
    }
}

pub fn series_list(fixture: &Fixture) -> Vec<Series<'_>> {
    fixture
        .names
        .iter()
        .zip(&fixture.points)
        .map(|(name, points)| {
            Series::new(name, MetricType::Gauge, points)
                .with_tags(&TAGS)
                .with_resources(&RESOURCES)
        })
        .collect()
}

/// Encodes `series` with the shipped encoder into `buf`; returns the payload length.
pub fn encode_series(series: &[Series<'_>], buf: &mut [u8]) -> usize {
    let mut batch = SeriesBatch::new(buf).expect("buffer holds an empty batch");
    for one in series {
        batch.push(one, Some(NOW)).expect("fits");
    }
    batch.finish().len()
}
