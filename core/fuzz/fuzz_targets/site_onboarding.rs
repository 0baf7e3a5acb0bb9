//! `site` / `domain` validation: never panics, and anything accepted stays under its domain.
//!
//! Input: `<policy byte><site>\n<domain>`; policy bit 0 allows sandboxes, bit 1 omits `site`.
#![no_main]

use ddlink_core::site::{Onboarding, SandboxPolicy, Site};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = core::str::from_utf8(rest) else {
        return;
    };
    let (site, domain) = text.split_once('\n').unwrap_or((text, ""));
    let policy = if flags & 1 == 1 {
        SandboxPolicy::Allow
    } else {
        SandboxPolicy::Deny
    };
    let site_param = (flags & 2 == 0).then_some(site);
    if let Ok(onboarding) = Onboarding::parse(site_param, domain, policy) {
        let origin = onboarding.authorize_origin();
        let host = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"))
            .expect("origin has a scheme");
        let domain = onboarding.site().domain();
        let under = host
            .strip_suffix(domain)
            .is_some_and(|head| head.is_empty() || head.ends_with('.'));
        assert!(under, "{origin} is not under {domain}");
        assert!(!host.contains(['/', '@', '?', '#', '%', '\\', ' ']));
        if !onboarding.site().is_sandbox() {
            assert!(origin.starts_with("https://"));
        } else {
            assert_eq!(policy, SandboxPolicy::Allow);
        }
    }
    if let Ok(parsed) = Site::from_domain(site) {
        assert!(!parsed.is_sandbox());
    }
    if let Ok(sandbox) = Site::sandbox(site) {
        assert!(sandbox.api_host().name().ends_with(".localhost"));
    }
});
