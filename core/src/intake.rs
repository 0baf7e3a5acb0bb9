//! Datadog intake rules shared by the telemetry encoders: tags, metric-style names, host names
//! and the time windows points, events, logs and checks must fall in.
//!
//! The encoders reject what Datadog would refuse or silently rewrite, so nothing is lost on the
//! wire without the device knowing. Lengths given in "characters" count Unicode scalar values, as
//! Datadog (and JSON Schema `maxLength`) do; lengths in bytes are UTF-8 bytes.

use core::fmt;

/// Longest tag Datadog keeps, in characters.
pub const TAG_MAX_CHARS: usize = 200;
/// Longest metric or service-check name, in characters (names are ASCII, so also bytes).
pub const NAME_MAX_CHARS: usize = 200;
/// Longest host name, in bytes (the DNS limit; Datadog documents none of its own).
pub const HOST_MAX_BYTES: usize = 255;

/// Why a tag was rejected. Rules enforced (Datadog "Getting started with tags"): 1 to
/// [`TAG_MAX_CHARS`] characters, starts with a letter (any Unicode letter), does not end with
/// `:`, and contains no `,` (the separator of `ddtags` and DogStatsD) and no control character.
/// Other characters Datadog would normalise (spaces, upper case) are passed through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TagError {
    /// The tag is empty.
    Empty,
    /// The tag is longer than [`TAG_MAX_CHARS`] characters.
    TooLong,
    /// The first character is not a letter.
    NotStartingWithLetter,
    /// The tag ends with `:` (an empty value).
    EndsWithColon,
    /// The tag contains `,` or a control character.
    ForbiddenChar,
}

impl fmt::Display for TagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "tag is empty",
            Self::TooLong => "tag is longer than 200 characters",
            Self::NotStartingWithLetter => "tag does not start with a letter",
            Self::EndsWithColon => "tag ends with ':'",
            Self::ForbiddenChar => "tag contains ',' or a control character",
        })
    }
}

/// Checks one tag against the rules of [`TagError`].
pub fn validate_tag(tag: &str) -> Result<(), TagError> {
    let mut chars = tag.chars();
    let first = chars.next().ok_or(TagError::Empty)?;
    if !first.is_alphabetic() {
        return Err(TagError::NotStartingWithLetter);
    }
    if tag.ends_with(':') {
        return Err(TagError::EndsWithColon);
    }
    if tag.chars().any(|c| c == ',' || c.is_control()) {
        return Err(TagError::ForbiddenChar);
    }
    if !chars_at_most(tag, TAG_MAX_CHARS) {
        return Err(TagError::TooLong);
    }
    Ok(())
}

/// Checks every tag of a list; the first failure wins.
pub fn validate_tags(tags: &[&str]) -> Result<(), TagError> {
    tags.iter().try_for_each(|tag| validate_tag(tag))
}

/// Why a metric or service-check name was rejected. Rules (Datadog "Naming custom metrics"):
/// 1 to [`NAME_MAX_CHARS`] characters, starts with an ASCII letter, then only ASCII letters,
/// digits, `_` and `.`. Names are case sensitive and passed through unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NameError {
    /// The name is empty.
    Empty,
    /// The name is longer than [`NAME_MAX_CHARS`].
    TooLong,
    /// The first character is not an ASCII letter.
    NotStartingWithLetter,
    /// A character other than `[A-Za-z0-9_.]`.
    ForbiddenChar,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "name is empty",
            Self::TooLong => "name is longer than 200 characters",
            Self::NotStartingWithLetter => "name does not start with an ASCII letter",
            Self::ForbiddenChar => "name contains a character other than [A-Za-z0-9_.]",
        })
    }
}

/// Checks a metric (or service-check) name against the rules of [`NameError`].
pub fn validate_metric_name(name: &str) -> Result<(), NameError> {
    let first = *name.as_bytes().first().ok_or(NameError::Empty)?;
    if !first.is_ascii_alphabetic() {
        return Err(NameError::NotStartingWithLetter);
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    {
        return Err(NameError::ForbiddenChar);
    }
    // All bytes are ASCII here, so bytes are characters.
    if name.len() > NAME_MAX_CHARS {
        return Err(NameError::TooLong);
    }
    Ok(())
}

/// Whether `host` is usable as a host name: 1 to [`HOST_MAX_BYTES`] bytes, no whitespace and
/// no control character.
pub fn is_valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= HOST_MAX_BYTES
        && !host.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Why a timestamp was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TimeError {
    /// Negative POSIX time.
    BeforeEpoch,
    /// Older than Datadog accepts for this kind of record, relative to the `now` given.
    TooOld,
    /// Further in the future than Datadog accepts, relative to the `now` given.
    TooFarInFuture,
}

impl fmt::Display for TimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BeforeEpoch => "timestamp is before 1970",
            Self::TooOld => "timestamp is older than Datadog accepts",
            Self::TooFarInFuture => "timestamp is further in the future than Datadog accepts",
        })
    }
}

/// Checks that `timestamp` (POSIX seconds) lies in `[now - max_age, now + max_ahead]`. Without a
/// trusted `now` (clock not yet synchronised) only the sign is checked: the device cannot tell.
pub(crate) fn check_time(
    timestamp: i64,
    now: Option<i64>,
    max_age_secs: i64,
    max_ahead_secs: i64,
) -> Result<(), TimeError> {
    if timestamp < 0 {
        return Err(TimeError::BeforeEpoch);
    }
    if let Some(now) = now {
        if timestamp < now.saturating_sub(max_age_secs) {
            return Err(TimeError::TooOld);
        }
        if timestamp > now.saturating_add(max_ahead_secs) {
            return Err(TimeError::TooFarInFuture);
        }
    }
    Ok(())
}

/// Whether `text` has at most `max` characters (Unicode scalar values).
pub(crate) fn chars_at_most(text: &str, max: usize) -> bool {
    // A character is at least one byte: short byte lengths need no counting.
    text.len() <= max || text.chars().count() <= max
}

/// Whether `text` is a non-empty label of at most `max` characters without control characters
/// (source type names, units, services, resource types).
pub(crate) fn is_label(text: &str, max: usize) -> bool {
    !text.is_empty() && chars_at_most(text, max) && !text.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_datadog_rules() {
        assert_eq!(validate_tag("env:prod"), Ok(()));
        assert_eq!(validate_tag("état:ok"), Ok(()));
        assert_eq!(validate_tag("solo"), Ok(()));
        assert_eq!(validate_tag(""), Err(TagError::Empty));
        assert_eq!(validate_tag("1x"), Err(TagError::NotStartingWithLetter));
        assert_eq!(validate_tag("env:"), Err(TagError::EndsWithColon));
        assert_eq!(validate_tag("a,b"), Err(TagError::ForbiddenChar));
        assert_eq!(validate_tag("a\nb"), Err(TagError::ForbiddenChar));
        let max = "é".repeat(TAG_MAX_CHARS);
        assert_eq!(validate_tag(&max), Ok(()));
        let mut long = [b'a'; TAG_MAX_CHARS + 1];
        long[0] = b'x';
        assert_eq!(
            validate_tag(core::str::from_utf8(&long).unwrap()),
            Err(TagError::TooLong)
        );
        assert_eq!(validate_tags(&["a:1", "b:"]), Err(TagError::EndsWithColon));
    }

    #[test]
    fn metric_names_follow_datadog_rules() {
        assert_eq!(validate_metric_name("system.load_1"), Ok(()));
        assert_eq!(validate_metric_name(""), Err(NameError::Empty));
        assert_eq!(
            validate_metric_name("_x"),
            Err(NameError::NotStartingWithLetter)
        );
        assert_eq!(validate_metric_name("a-b"), Err(NameError::ForbiddenChar));
        assert_eq!(validate_metric_name("aé"), Err(NameError::ForbiddenChar));
        let at_max = [b'a'; NAME_MAX_CHARS];
        assert_eq!(
            validate_metric_name(core::str::from_utf8(&at_max).unwrap()),
            Ok(())
        );
        let too_long = [b'a'; NAME_MAX_CHARS + 1];
        assert_eq!(
            validate_metric_name(core::str::from_utf8(&too_long).unwrap()),
            Err(NameError::TooLong)
        );
    }

    #[test]
    fn time_window_is_inclusive_and_overflow_free() {
        assert_eq!(check_time(1000, Some(1000), 10, 5), Ok(()));
        assert_eq!(check_time(990, Some(1000), 10, 5), Ok(()));
        assert_eq!(check_time(989, Some(1000), 10, 5), Err(TimeError::TooOld));
        assert_eq!(check_time(1005, Some(1000), 10, 5), Ok(()));
        assert_eq!(
            check_time(1006, Some(1000), 10, 5),
            Err(TimeError::TooFarInFuture)
        );
        assert_eq!(check_time(-1, None, 10, 5), Err(TimeError::BeforeEpoch));
        assert_eq!(check_time(i64::MAX, None, 10, 5), Ok(()));
        assert_eq!(
            check_time(i64::MAX, Some(i64::MAX), i64::MAX, i64::MAX),
            Ok(())
        );
        assert_eq!(
            check_time(0, Some(i64::MIN), 10, 5),
            Err(TimeError::TooFarInFuture)
        );
    }

    #[test]
    fn hosts_and_labels() {
        assert!(is_valid_host("i-012345678"));
        assert!(!is_valid_host(""));
        assert!(!is_valid_host("a b"));
        assert!(is_label("second", 10));
        assert!(!is_label("", 10));
        assert!(!is_label("a\u{7}", 10));
        assert!(chars_at_most("ééé", 3));
        assert!(!chars_at_most("éééé", 3));
    }
}
