//! Prometheus counters for handshakes, refreshes, validations, logins and errors by kind, and
//! the `ddlink_connections` gauge (connections by state, read from the store at each scrape).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Counter families: name and help text.
const FAMILIES: &[(&str, &str)] = &[
    (
        "ddlink_oauth_handshakes_total",
        "OAuth handshakes by outcome.",
    ),
    (
        "ddlink_token_refreshes_total",
        "Access-token refreshes by outcome.",
    ),
    (
        "ddlink_api_key_validations_total",
        "API-key validations by outcome.",
    ),
    (
        "ddlink_admin_logins_total",
        "Admin sign-in attempts (form and bearer) by outcome: ok, failed, rate_limited, busy.",
    ),
    ("ddlink_errors_total", "Errors by kind."),
];

/// In-process counters, rendered in the Prometheus text format.
#[derive(Debug, Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<(&'static str, &'static str, String), u64>>,
}

impl Metrics {
    fn add(&self, family: &'static str, label: &'static str, value: &str) {
        if let Ok(mut counters) = self.counters.lock() {
            *counters
                .entry((family, label, value.to_owned()))
                .or_insert(0) += 1;
        }
    }

    pub fn handshake(&self, outcome: &str) {
        self.add("ddlink_oauth_handshakes_total", "outcome", outcome);
    }

    pub fn refresh(&self, outcome: &str) {
        self.add("ddlink_token_refreshes_total", "outcome", outcome);
    }

    pub fn validation(&self, outcome: &str) {
        self.add("ddlink_api_key_validations_total", "outcome", outcome);
    }

    pub fn login(&self, outcome: &str) {
        self.add("ddlink_admin_logins_total", "outcome", outcome);
    }

    pub fn error(&self, kind: &str) {
        self.add("ddlink_errors_total", "kind", kind);
    }

    /// Current value of one counter (tests and the admin page).
    pub fn get(&self, family: &str, value: &str) -> u64 {
        self.counters.lock().map_or(0, |counters| {
            counters
                .iter()
                .filter(|((f, _, v), _)| *f == family && v == value)
                .map(|(_, n)| *n)
                .sum()
        })
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let Ok(counters) = self.counters.lock() else {
            return out;
        };
        for (family, help) in FAMILIES {
            let _ = writeln!(out, "# HELP {family} {help}\n# TYPE {family} counter");
            for ((_, label, value), count) in counters.iter().filter(|((f, _, _), _)| f == family) {
                let value = value
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                let _ = writeln!(out, "{family}{{{label}=\"{value}\"}} {count}");
            }
        }
        out
    }
}

/// The `ddlink_connections{state="…"}` gauge: every state, 0 when no connection is in it.
pub fn render_connection_states(
    counts: &std::collections::HashMap<crate::store::ConnectionState, u64>,
) -> String {
    let mut out = String::from(
        "# HELP ddlink_connections Datadog connections by state.\n# TYPE ddlink_connections gauge\n",
    );
    for state in crate::store::ConnectionState::ALL {
        let count = counts.get(&state).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "ddlink_connections{{state=\"{}\"}} {count}",
            state.as_str()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_gauge_lists_every_state() {
        use crate::store::ConnectionState;
        let counts = [
            (ConnectionState::Active, 2),
            (ConnectionState::KeyRevoked, 1),
        ]
        .into_iter()
        .collect();
        let text = render_connection_states(&counts);
        assert!(text.contains("# TYPE ddlink_connections gauge"), "{text}");
        for (state, count) in [
            ("active", 2),
            ("uninstalled", 0),
            ("key_revoked", 1),
            ("disconnected", 0),
        ] {
            assert!(
                text.contains(&format!(
                    "ddlink_connections{{state=\"{state}\"}} {count}\n"
                )),
                "{text}"
            );
        }
    }

    #[test]
    fn counters_render_in_prometheus_text_format() {
        let metrics = Metrics::default();
        metrics.handshake("completed");
        metrics.handshake("completed");
        metrics.error("domain \"mismatch\"");
        let text = metrics.render();
        assert!(text.contains("# TYPE ddlink_oauth_handshakes_total counter"));
        assert!(
            text.contains("ddlink_oauth_handshakes_total{outcome=\"completed\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("ddlink_errors_total{kind=\"domain \\\"mismatch\\\"\"} 1"),
            "{text}"
        );
        assert_eq!(metrics.get("ddlink_oauth_handshakes_total", "completed"), 2);
    }
}
