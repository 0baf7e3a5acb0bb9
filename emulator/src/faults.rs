//! Fault injection: for a path, the next N requests get a chosen status, a delay, or a
//! dropped connection.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One injected fault. JSON form (for `POST /_emulator/faults`):
/// `{"path":"/api/v2/series","count":2,"action":{"kind":"status","status":429,
/// "rate_limit":{"limit":100,"period":60,"remaining":0,"reset":17}}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultSpec {
    /// Exact request path (no query), or `*` for every path outside `/_emulator/`.
    pub path: String,
    /// How many matching requests it affects (default 1).
    #[serde(default = "one")]
    pub count: u32,
    pub action: FaultAction,
}

fn one() -> u32 {
    1
}

impl FaultSpec {
    /// The next `count` requests to `path` answer `status` with a JSON `{"errors":[…]}` body.
    pub fn status(path: impl Into<String>, count: u32, status: u16) -> Self {
        Self {
            path: path.into(),
            count,
            action: FaultAction::Status {
                status,
                body: None,
                rate_limit: None,
            },
        }
    }
}

/// What happens to a request a fault matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultAction {
    /// Answer this status without handling the request.
    Status {
        status: u16,
        /// Body to send (as `application/json`); default `{"errors":["<reason phrase>"]}`.
        #[serde(default)]
        body: Option<String>,
        /// Add `X-RateLimit-*` headers.
        #[serde(default)]
        rate_limit: Option<RateLimit>,
    },
    /// Wait, then handle the request normally.
    Delay { millis: u64 },
    /// Close the connection without answering.
    Drop,
}

/// Values for Datadog's `X-RateLimit-*` response headers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    pub limit: u64,
    /// Seconds per window.
    pub period: u64,
    pub remaining: u64,
    /// Seconds until the window resets.
    pub reset: u64,
    #[serde(default)]
    pub name: Option<String>,
}

impl FaultAction {
    pub(crate) fn delay(&self) -> Option<Duration> {
        match self {
            Self::Delay { millis } => Some(Duration::from_millis(*millis)),
            _ => None,
        }
    }
}

/// Pending faults, consumed in insertion order.
#[derive(Debug, Default)]
pub(crate) struct FaultQueue {
    pending: Vec<FaultSpec>,
}

impl FaultQueue {
    pub(crate) fn push(&mut self, spec: FaultSpec) {
        if spec.count > 0 {
            self.pending.push(spec);
        }
    }

    pub(crate) fn clear(&mut self) {
        self.pending.clear();
    }

    pub(crate) fn list(&self) -> Vec<FaultSpec> {
        self.pending.clone()
    }

    /// Consumes one use of the first fault matching `path`.
    pub(crate) fn take(&mut self, path: &str) -> Option<FaultAction> {
        let index = self
            .pending
            .iter()
            .position(|f| f.path == path || f.path == "*")?;
        let fault = self.pending.get_mut(index)?;
        fault.count -= 1;
        let action = fault.action.clone();
        if fault.count == 0 {
            self.pending.remove(index);
        }
        Some(action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_apply_count_times_in_order() {
        let mut queue = FaultQueue::default();
        queue.push(FaultSpec::status("/a", 2, 500));
        queue.push(FaultSpec {
            path: "*".into(),
            count: 1,
            action: FaultAction::Drop,
        });
        assert!(matches!(
            queue.take("/a"),
            Some(FaultAction::Status { status: 500, .. })
        ));
        assert_eq!(queue.take("/b"), Some(FaultAction::Drop));
        assert!(matches!(
            queue.take("/a"),
            Some(FaultAction::Status { status: 500, .. })
        ));
        assert_eq!(queue.take("/a"), None);
    }

    #[test]
    fn json_form_parses() {
        let spec: FaultSpec = serde_json::from_str(
            r#"{"path":"/api/v2/series","action":{"kind":"status","status":429,
            "rate_limit":{"limit":100,"period":60,"remaining":0,"reset":17}}}"#,
        )
        .unwrap();
        assert_eq!(spec.count, 1);
        assert!(matches!(
            spec.action,
            FaultAction::Status {
                status: 429,
                rate_limit: Some(_),
                ..
            }
        ));
        let delay: FaultSpec = serde_json::from_str(
            r#"{"path":"*","count":3,"action":{"kind":"delay","millis":250}}"#,
        )
        .unwrap();
        assert_eq!(delay.action.delay(), Some(Duration::from_millis(250)));
    }
}
