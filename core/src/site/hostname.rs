//! Syntax checks for host names and ports, shared by the sandbox constructor and the onboarding
//! parser. Deliberately stricter than DNS: letters, digits and inner hyphens only, no IDN.

use super::SiteError;

/// RFC 1035 limit for one label.
pub(crate) const LABEL_MAX_LEN: usize = 63;
/// RFC 1035 limit for a whole name (without the trailing dot).
const NAME_MAX_LEN: usize = 253;

/// Checks that `host` is `label(.label)*`: each label 1–63 ASCII letters, digits or inner hyphens,
/// not an IDN (`xn--`) label, no trailing dot.
pub(crate) fn check_host_name(host: &str) -> Result<(), SiteError> {
    if host.is_empty() {
        return Err(SiteError::Empty);
    }
    if host.len() > NAME_MAX_LEN {
        return Err(SiteError::TooLong);
    }
    if host.ends_with('.') {
        return Err(SiteError::TrailingDot);
    }
    host.split('.').try_for_each(check_label)
}

fn check_label(label: &str) -> Result<(), SiteError> {
    if label.is_empty() {
        return Err(SiteError::EmptyLabel);
    }
    if label.len() > LABEL_MAX_LEN {
        return Err(SiteError::LabelTooLong);
    }
    if !label
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
    {
        return Err(SiteError::InvalidCharacter);
    }
    let idn = label
        .as_bytes()
        .get(..4)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case(b"xn--"));
    if label.starts_with('-') || label.ends_with('-') || idn {
        return Err(SiteError::InvalidLabel);
    }
    Ok(())
}

/// Parses a TCP port written canonically: 1–65535, decimal digits, no sign, no leading zero.
pub(crate) fn parse_port(text: &str) -> Result<u16, SiteError> {
    let canonical = !text.is_empty()
        && text.len() <= 5
        && !text.starts_with('0')
        && text.bytes().all(|byte| byte.is_ascii_digit());
    if !canonical {
        return Err(SiteError::InvalidPort);
    }
    let value = text
        .bytes()
        .fold(0u32, |acc, digit| acc * 10 + u32::from(digit - b'0'));
    u16::try_from(value).map_err(|_| SiteError::InvalidPort)
}

/// Splits `authority` into host and optional port at the first `:`.
pub(crate) fn split_port(authority: &str) -> Result<(&str, Option<u16>), SiteError> {
    match authority.split_once(':') {
        None => Ok((authority, None)),
        Some((host, port)) => Ok((host, Some(parse_port(port)?))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names() {
        assert_eq!(check_host_name("app.datadoghq.com"), Ok(()));
        assert_eq!(check_host_name("a-b.c9.localhost"), Ok(()));
        assert_eq!(check_host_name(&"a".repeat(63)), Ok(()));
    }

    #[test]
    fn rejects_bad_labels() {
        assert_eq!(check_host_name(""), Err(SiteError::Empty));
        assert_eq!(check_host_name("a..b"), Err(SiteError::EmptyLabel));
        assert_eq!(check_host_name(".a"), Err(SiteError::EmptyLabel));
        assert_eq!(check_host_name("a.b."), Err(SiteError::TrailingDot));
        assert_eq!(
            check_host_name(&"a".repeat(64)),
            Err(SiteError::LabelTooLong)
        );
        assert_eq!(check_host_name("-a.b"), Err(SiteError::InvalidLabel));
        assert_eq!(check_host_name("a-.b"), Err(SiteError::InvalidLabel));
        assert_eq!(
            check_host_name("XN--80ak6aa92e.com"),
            Err(SiteError::InvalidLabel)
        );
        assert_eq!(check_host_name("a_b.c"), Err(SiteError::InvalidCharacter));
        assert_eq!(check_host_name("a%2eb"), Err(SiteError::InvalidCharacter));
        let long = ["abcdefghi"; 26].join(".");
        assert_eq!(check_host_name(&long), Err(SiteError::TooLong));
    }

    #[test]
    fn ports_must_be_canonical() {
        assert_eq!(parse_port("8080"), Ok(8080));
        assert_eq!(parse_port("65535"), Ok(65535));
        assert_eq!(parse_port("1"), Ok(1));
        for bad in [
            "", "0", "080", "65536", "99999", "123456", "+80", "8a", " 80",
        ] {
            assert_eq!(parse_port(bad), Err(SiteError::InvalidPort), "{bad:?}");
        }
        assert_eq!(split_port("a.localhost:81"), Ok(("a.localhost", Some(81))));
        assert_eq!(split_port("a.localhost"), Ok(("a.localhost", None)));
        assert_eq!(split_port("a:1:2"), Err(SiteError::InvalidPort));
    }
}
