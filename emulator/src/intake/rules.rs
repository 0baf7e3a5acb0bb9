//! Validation rules shared by the intake endpoints, and helpers to read JSON with
//! error messages that name the offending field.

use serde_json::{Map, Value};

/// Points may be at most 10 minutes in the future.
pub(crate) const MAX_FUTURE_SECS: i64 = 600;
/// Points may be at most 1 hour in the past.
pub(crate) const MAX_PAST_SECS: i64 = 3600;
const MAX_NAME_LEN: usize = 200;
const MAX_TAG_LEN: usize = 200;

/// Metric names: start with a letter, then ASCII letters, digits, `_` and `.`, ≤ 200
/// characters. Datadog rewrites other names; the emulator rejects them so that encoders
/// never depend on that rewriting.
pub(crate) fn check_metric_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("Metric name is empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "Metric name {name:?} is longer than {MAX_NAME_LEN} characters"
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(format!("Metric name {name:?} must start with a letter"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '.'))
    {
        return Err(format!(
            "Metric name {name:?} contains the invalid character {c:?}"
        ));
    }
    Ok(())
}

/// Tags: ≤ 200 characters, not ending with `:`.
pub(crate) fn check_tag(tag: &str) -> Result<(), String> {
    if tag.is_empty() {
        return Err("Tag is empty".into());
    }
    if tag.chars().count() > MAX_TAG_LEN {
        return Err(format!(
            "Tag {tag:?} is longer than {MAX_TAG_LEN} characters"
        ));
    }
    if tag.ends_with(':') {
        return Err(format!("Tag {tag:?} must not end with ':'"));
    }
    Ok(())
}

/// A point's time must be within [now − 1 h, now + 10 min].
pub(crate) fn check_point_time(metric: &str, timestamp: i64, now: i64) -> Result<(), String> {
    if timestamp > now.saturating_add(MAX_FUTURE_SECS) {
        return Err(format!(
            "Point timestamp {timestamp} of metric {metric:?} is more than 10 minutes in the future"
        ));
    }
    if timestamp < now.saturating_sub(MAX_PAST_SECS) {
        return Err(format!(
            "Point timestamp {timestamp} of metric {metric:?} is more than 1 hour in the past"
        ));
    }
    Ok(())
}

/// Reads typed fields of a JSON object, naming the field's path in errors.
pub(crate) struct Fields<'a> {
    pub(crate) path: String,
    pub(crate) map: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    pub(crate) fn of(value: &'a Value, path: impl Into<String>) -> Result<Self, String> {
        let path = path.into();
        match value {
            Value::Object(map) => Ok(Self { path, map }),
            _ => Err(format!("{path}: expected an object")),
        }
    }

    fn present(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    pub(crate) fn at(&self, name: &str) -> String {
        format!("{}.{name}", self.path)
    }

    pub(crate) fn required<T>(
        &self,
        name: &str,
        read: impl Fn(&'a Value) -> Option<T>,
        what: &str,
    ) -> Result<T, String> {
        match self.present(name) {
            None => Err(format!("{}: required field is missing", self.at(name))),
            Some(v) => read(v).ok_or_else(|| format!("{}: expected {what}", self.at(name))),
        }
    }

    pub(crate) fn optional<T>(
        &self,
        name: &str,
        read: impl Fn(&'a Value) -> Option<T>,
        what: &str,
    ) -> Result<Option<T>, String> {
        self.present(name)
            .map(|v| read(v).ok_or_else(|| format!("{}: expected {what}", self.at(name))))
            .transpose()
    }

    pub(crate) fn string(&self, name: &str) -> Result<&'a str, String> {
        self.required(name, Value::as_str, "a string")
    }

    pub(crate) fn opt_string(&self, name: &str) -> Result<Option<&'a str>, String> {
        self.optional(name, Value::as_str, "a string")
    }

    pub(crate) fn opt_int(&self, name: &str) -> Result<Option<i64>, String> {
        self.optional(name, Value::as_i64, "an integer")
    }

    /// An optional array of strings, each checked as a tag.
    pub(crate) fn tags(&self, name: &str) -> Result<Vec<String>, String> {
        let Some(items) = self.optional(name, Value::as_array, "an array of strings")? else {
            return Ok(Vec::new());
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let tag = item
                    .as_str()
                    .ok_or_else(|| format!("{}[{i}]: expected a string", self.at(name)))?;
                check_tag(tag).map_err(|e| format!("{}[{i}]: {e}", self.at(name)))?;
                Ok(tag.to_owned())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names() {
        assert!(check_metric_name("system.load.1").is_ok());
        assert!(check_metric_name("a_B.9").is_ok());
        for bad in ["", "1abc", "_x", "a b", "a-b", "é", &"a".repeat(201)] {
            assert!(check_metric_name(bad).is_err(), "{bad}");
        }
        assert!(check_metric_name(&"a".repeat(200)).is_ok());
    }

    #[test]
    fn tags() {
        assert!(check_tag("env:prod").is_ok());
        assert!(check_tag("env:").is_err());
        assert!(check_tag(&"t".repeat(201)).is_err());
        assert!(check_tag("").is_err());
    }

    #[test]
    fn point_window() {
        assert!(check_point_time("m", 1000 + 600, 1000).is_ok());
        assert!(check_point_time("m", 1000 + 601, 1000).is_err());
        assert!(check_point_time("m", 1000 - 3600, 1000).is_ok());
        assert!(check_point_time("m", 1000 - 3601, 1000).is_err());
        assert!(check_point_time("m", i64::MIN, i64::MAX).is_err());
    }
}
