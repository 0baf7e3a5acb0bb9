//! Which emulated Datadog host a request's `Host` names.

/// An emulated host of the sandbox domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKind {
    /// `app.<domain>`: tile, authorize and consent pages.
    App,
    /// `<label>.<domain>`: the web app on a custom subdomain (same pages as `app.`).
    CustomApp(String),
    /// `api.<domain>`: OAuth token/revoke, key management, metrics, events, checks.
    Api,
    /// `http-intake.logs.<domain>`: logs.
    LogsIntake,
    /// `event-management-intake.<domain>`: v2 events.
    EventIntake,
}

/// Host-name prefixes (below the domain) of the fixed hosts.
pub(crate) const APP: &str = "app";
pub(crate) const API: &str = "api";
pub(crate) const LOGS_INTAKE: &str = "http-intake.logs";
pub(crate) const EVENT_INTAKE: &str = "event-management-intake";

/// Strips the port from a `Host` header value (`name:port` or `[v6]:port`).
pub(crate) fn host_name(host_header: &str) -> &str {
    if host_header.starts_with('[') {
        return host_header
            .split_inclusive(']')
            .next()
            .unwrap_or(host_header);
    }
    host_header
        .rsplit_once(':')
        .map_or(host_header, |(name, _port)| name)
}

/// Classifies a `Host` header against `domain` (a host name without port). The port is
/// ignored: clients omit it for default ports and only one listener exists anyway.
pub(crate) fn classify(host_header: &str, domain: &str) -> Option<HostKind> {
    let name = host_name(host_header)
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let prefix = name.strip_suffix(domain)?.strip_suffix('.')?;
    Some(match prefix {
        APP => HostKind::App,
        API => HostKind::Api,
        LOGS_INTAKE => HostKind::LogsIntake,
        EVENT_INTAKE => HostKind::EventIntake,
        label if is_dns_label(label) => HostKind::CustomApp(label.to_owned()),
        _ => return None,
    })
}

pub(crate) fn is_dns_label(label: &str) -> bool {
    (1..=63).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "datadoghq.localhost";

    #[test]
    fn classifies_fixed_and_custom_hosts() {
        assert_eq!(
            classify("api.datadoghq.localhost:8080", D),
            Some(HostKind::Api)
        );
        assert_eq!(classify("APP.datadoghq.localhost", D), Some(HostKind::App));
        assert_eq!(
            classify("http-intake.logs.datadoghq.localhost:1", D),
            Some(HostKind::LogsIntake)
        );
        assert_eq!(
            classify("event-management-intake.datadoghq.localhost:1", D),
            Some(HostKind::EventIntake)
        );
        assert_eq!(
            classify("acme.datadoghq.localhost:1", D),
            Some(HostKind::CustomApp("acme".into()))
        );
    }

    #[test]
    fn rejects_foreign_and_malformed_hosts() {
        for host in [
            "datadoghq.localhost:1",
            "api.datadoghq.com",
            "a.b.datadoghq.localhost",
            "evil-datadoghq.localhost",
            "127.0.0.1:8080",
            "[::1]:80",
            "-x.datadoghq.localhost",
            "",
        ] {
            assert_eq!(classify(host, D), None, "{host}");
        }
    }
}
