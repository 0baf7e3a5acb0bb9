use super::*;
use proptest::prelude::*;

const DENY: SandboxPolicy = SandboxPolicy::Deny;
const ALLOW: SandboxPolicy = SandboxPolicy::Allow;

fn origin(site: &str, domain: &str) -> Result<String, SiteError> {
    Onboarding::parse(Some(site), domain, DENY).map(|o| o.authorize_origin().to_string())
}

#[test]
fn region_table_matches_datadog() {
    let expected = [
        ("datadoghq.com", "app.datadoghq.com"),
        ("us3.datadoghq.com", "us3.datadoghq.com"),
        ("us5.datadoghq.com", "us5.datadoghq.com"),
        ("datadoghq.eu", "app.datadoghq.eu"),
        ("ap1.datadoghq.com", "ap1.datadoghq.com"),
        ("ap2.datadoghq.com", "ap2.datadoghq.com"),
        ("uk1.datadoghq.com", "uk1.datadoghq.com"),
        ("ddog-gov.com", "app.ddog-gov.com"),
        ("us2.ddog-gov.com", "us2.ddog-gov.com"),
    ];
    for (region, (domain, app)) in Region::ALL.into_iter().zip(expected) {
        let site = Site::from_domain(domain).expect("known domain");
        assert_eq!(site.region(), Some(region));
        assert_eq!(site.domain(), domain);
        assert_eq!(site.api_host(), format!("api.{domain}").as_str());
        assert_eq!(
            site.logs_host(),
            format!("http-intake.logs.{domain}").as_str()
        );
        assert_eq!(site.app_host(), app);
        assert_eq!(site.api_host().port(), None);
        assert_eq!(site.to_string(), domain);
        assert_eq!(domain.parse::<Site>(), Ok(site));
    }
}

#[test]
fn domain_parser_is_exact_but_case_insensitive() {
    assert_eq!(
        Site::from_domain("DataDogHQ.EU"),
        Ok(Site::from(Region::Eu1))
    );
    for bad in [
        "",
        "evil.com",
        "datadoghq.com.",
        "api.datadoghq.com",
        "datadoghq.com.evil.com",
        "https://datadoghq.com",
        " datadoghq.com",
        "datadoghq.com:443",
        "datadoghq.localhost",
    ] {
        assert_eq!(
            Site::from_domain(bad),
            Err(SiteError::UnknownDomain),
            "{bad:?}"
        );
    }
}

#[test]
fn sandbox_only_through_its_constructor() {
    let site = Site::sandbox("DataDogHQ.localhost:8080").expect("valid sandbox");
    assert!(site.is_sandbox());
    assert_eq!(site.region(), None);
    assert_eq!(site.domain(), "datadoghq.localhost:8080");
    assert_eq!(site.api_host(), "api.datadoghq.localhost:8080");
    assert_eq!(
        site.logs_host(),
        "http-intake.logs.datadoghq.localhost:8080"
    );
    assert_eq!(site.app_host(), "app.datadoghq.localhost:8080");
    assert_eq!(site.api_host().name(), "api.datadoghq.localhost");
    assert_eq!(site.api_host().port(), Some(8080));
    assert_eq!(
        Site::sandbox("x.localhost").map(|s| s.api_host().port()),
        Ok(None)
    );
    assert_eq!(
        "datadoghq.localhost:8080".parse::<Site>(),
        Err(SiteError::UnknownDomain)
    );
    assert_ne!(
        site,
        Site::sandbox("datadoghq.localhost:8081").expect("valid")
    );
    assert_eq!(
        site,
        Site::sandbox("datadoghq.localhost:8080").expect("valid")
    );
}

#[test]
fn parse_with_policy_reads_back_stored_sites() {
    let sandbox = Site::sandbox("datadoghq.localhost:8080").expect("valid");
    assert_eq!(Site::parse(sandbox.domain(), ALLOW), Ok(sandbox));
    assert_eq!(
        Site::parse(sandbox.domain(), DENY),
        Err(SiteError::SandboxNotAllowed)
    );
    for region in Region::ALL {
        assert_eq!(Site::parse(region.domain(), DENY), Ok(Site::from(region)));
        assert_eq!(Site::parse(region.domain(), ALLOW), Ok(Site::from(region)));
    }
    assert_eq!(
        Site::parse("evil.com", ALLOW),
        Err(SiteError::UnknownDomain)
    );
    assert_eq!(Site::parse("", DENY), Err(SiteError::Empty));
}

#[test]
fn sandbox_rejects_non_localhost() {
    let cases = [
        ("", SiteError::Empty),
        ("localhost", SiteError::NotSandboxDomain),
        ("datadoghq.com", SiteError::NotSandboxDomain),
        ("localhost.evil.com", SiteError::NotSandboxDomain),
        ("a.localhost.", SiteError::TrailingDot),
        (".localhost", SiteError::EmptyLabel),
        ("a.localhost:0", SiteError::InvalidPort),
        ("a.localhost:", SiteError::InvalidPort),
        ("a@b.localhost", SiteError::InvalidCharacter),
        ("http://a.localhost", SiteError::InvalidPort),
    ];
    for (input, error) in cases {
        assert_eq!(Site::sandbox(input), Err(error), "{input:?}");
    }
    let long = format!("{}.localhost", "a".repeat(SANDBOX_DOMAIN_MAX_LEN));
    assert_eq!(Site::sandbox(&long), Err(SiteError::TooLong));
    let longest = format!("{}.{}.localhost:65535", "a".repeat(43), "b".repeat(4));
    assert_eq!(longest.len(), SANDBOX_DOMAIN_MAX_LEN);
    let site = Site::sandbox(&longest).expect("longest sandbox fits");
    assert_eq!(site.logs_host().len(), HOST_MAX_LEN);
}

#[test]
fn accepts_the_documented_site_forms() {
    let cases = [
        (
            "https://app.datadoghq.com",
            "datadoghq.com",
            "https://app.datadoghq.com",
        ),
        (
            "app.datadoghq.com",
            "datadoghq.com",
            "https://app.datadoghq.com",
        ),
        (
            "https://app.datadoghq.com/",
            "datadoghq.com",
            "https://app.datadoghq.com",
        ),
        (
            "HTTPS://ACME.DataDogHQ.com",
            "datadoghq.com",
            "https://acme.datadoghq.com",
        ),
        (
            "customsub.datadoghq.com",
            "datadoghq.com",
            "https://customsub.datadoghq.com",
        ),
        (
            "https://us3.datadoghq.com",
            "us3.datadoghq.com",
            "https://us3.datadoghq.com",
        ),
        (
            "https://us5.datadoghq.com",
            "us5.datadoghq.com",
            "https://us5.datadoghq.com",
        ),
        (
            "https://app.datadoghq.eu",
            "datadoghq.eu",
            "https://app.datadoghq.eu",
        ),
        (
            "https://bigcorp.datadoghq.eu",
            "datadoghq.eu",
            "https://bigcorp.datadoghq.eu",
        ),
        (
            "https://app.ddog-gov.com",
            "ddog-gov.com",
            "https://app.ddog-gov.com",
        ),
        (
            "https://us2.ddog-gov.com",
            "us2.ddog-gov.com",
            "https://us2.ddog-gov.com",
        ),
        (
            "https://acme.ap1.datadoghq.com",
            "ap1.datadoghq.com",
            "https://acme.ap1.datadoghq.com",
        ),
    ];
    for (site, domain, expected) in cases {
        assert_eq!(
            origin(site, domain).as_deref(),
            Ok(expected),
            "{site:?} {domain:?}"
        );
    }
}

#[test]
fn refuses_hostile_and_malformed_sites() {
    use SiteError::*;
    let d = "datadoghq.com";
    let cases = [
        ("evil.com", d, NotDatadogHost),
        ("https://evil.com", d, NotDatadogHost),
        ("datadoghq.com.evil.com", d, NotDatadogHost),
        ("https://evildatadoghq.com", d, NotDatadogHost),
        ("https://a@datadoghq.com", d, UserInfo),
        ("https://app.datadoghq.com@evil.com", d, UserInfo),
        (
            "https://evil.com#@app.datadoghq.com",
            d,
            PathQueryOrFragment,
        ),
        ("https://evil.com?.datadoghq.com", d, PathQueryOrFragment),
        ("https://evil.com\\@app.datadoghq.com", d, UserInfo),
        ("https://evil.com\\.datadoghq.com", d, InvalidCharacter),
        ("https://app.datadoghq.com:443", d, UnexpectedPort),
        ("https://app.datadoghq.com:8443", d, UnexpectedPort),
        ("https://app.datadoghq.com:x", d, InvalidPort),
        ("https://app.datadoghq.com/oauth2", d, PathQueryOrFragment),
        ("https://app.datadoghq.com?x=1", d, PathQueryOrFragment),
        ("https://app.datadoghq.com#frag", d, PathQueryOrFragment),
        ("https://app.datadoghq.com//", d, PathQueryOrFragment),
        ("http://app.datadoghq.com", d, UnsupportedScheme),
        ("javascript://app.datadoghq.com", d, UnsupportedScheme),
        ("//app.datadoghq.com", d, PathQueryOrFragment),
        ("https://", d, Empty),
        ("https:///", d, Empty),
        ("", d, Empty),
        ("https://xn--80ak6aa92e.datadoghq.com", d, InvalidLabel),
        ("https://app.datadoghq.xn--com-9o0a", d, InvalidLabel),
        ("https://app.dataԁoghq.com", d, InvalidCharacter),
        ("https://app.datadoghq.com.", d, TrailingDot),
        ("https://app..datadoghq.com", d, EmptyLabel),
        ("https://.datadoghq.com", d, EmptyLabel),
        ("https://app%2edatadoghq.com", d, InvalidCharacter),
        ("https://evil.com%2f.datadoghq.com", d, InvalidCharacter),
        (" https://app.datadoghq.com", d, InvalidCharacter),
        ("https://app.datadoghq.com ", d, InvalidCharacter),
        ("https://app.datadoghq.com\r\n", d, InvalidCharacter),
        ("https://app.datadoghq.com\0", d, InvalidCharacter),
        ("https://app\t.datadoghq.com", d, InvalidCharacter),
        ("https://-acme.datadoghq.com", d, InvalidLabel),
        ("https://a_b.datadoghq.com", d, InvalidCharacter),
        ("https://[::1]", d, InvalidPort),
        ("https://127.0.0.1", d, NotDatadogHost),
        ("https://datadoghq.com", d, NotAnAppHost),
        ("https://a.b.datadoghq.com", d, NotAnAppHost),
        ("https://us3.datadoghq.com", d, DomainMismatch),
        ("https://acme.us3.datadoghq.com", d, DomainMismatch),
        ("https://app.datadoghq.eu", d, DomainMismatch),
        ("https://app.datadoghq.com", "datadoghq.eu", DomainMismatch),
        (
            "https://app.datadoghq.com",
            "us3.datadoghq.com",
            DomainMismatch,
        ),
        ("https://app.datadoghq.localhost", d, NotDatadogHost),
    ];
    for (site, domain, error) in cases {
        assert_eq!(origin(site, domain), Err(error), "{site:?} {domain:?}");
    }
    let long_label = format!("https://{}.datadoghq.com", "a".repeat(64));
    assert_eq!(origin(&long_label, d), Err(LabelTooLong));
}

#[test]
fn domain_parameter_rules() {
    assert_eq!(
        Onboarding::parse(Some("https://app.datadoghq.com"), "evil.com", DENY),
        Err(SiteError::UnknownDomain)
    );
    assert_eq!(Onboarding::parse(None, "", DENY), Err(SiteError::Empty));
    assert_eq!(
        Onboarding::parse(None, "datadoghq.localhost:8080", DENY),
        Err(SiteError::SandboxNotAllowed)
    );
    assert_eq!(
        Onboarding::parse(None, "evil.com", ALLOW),
        Err(SiteError::UnknownDomain)
    );
    assert_eq!(
        Onboarding::parse(None, "a.localhost:99999", ALLOW),
        Err(SiteError::InvalidPort)
    );
}

#[test]
fn missing_site_falls_back_to_the_app_host() {
    let eu = Onboarding::parse(None, "datadoghq.eu", DENY).expect("valid");
    assert_eq!(eu.authorize_origin(), "https://app.datadoghq.eu");
    assert_eq!(eu.site(), &Site::from(Region::Eu1));
    let us5 = Onboarding::parse(None, "us5.datadoghq.com", DENY).expect("valid");
    assert_eq!(us5.authorize_origin(), "https://us5.datadoghq.com");
    let sandbox = Onboarding::parse(None, "datadoghq.localhost:8080", ALLOW).expect("valid");
    assert_eq!(
        sandbox.authorize_origin(),
        "http://app.datadoghq.localhost:8080"
    );
}

#[test]
fn site_does_not_change_api_hosts() {
    let onboarding =
        Onboarding::parse(Some("https://bigcorp.datadoghq.eu"), "datadoghq.eu", DENY).expect("ok");
    assert_eq!(
        onboarding.authorize_origin(),
        "https://bigcorp.datadoghq.eu"
    );
    assert_eq!(onboarding.site().api_host(), "api.datadoghq.eu");
}

#[test]
fn sandbox_sites() {
    let domain = "datadoghq.localhost:8080";
    let parse = |site| {
        Onboarding::parse(Some(site), domain, ALLOW).map(|o| o.authorize_origin().to_string())
    };
    assert_eq!(
        parse("http://app.datadoghq.localhost:8080").as_deref(),
        Ok("http://app.datadoghq.localhost:8080")
    );
    assert_eq!(
        parse("https://app.datadoghq.localhost:8080/").as_deref(),
        Ok("https://app.datadoghq.localhost:8080")
    );
    assert_eq!(
        parse("app.datadoghq.localhost:8080").as_deref(),
        Ok("http://app.datadoghq.localhost:8080")
    );
    assert_eq!(
        parse("http://app.datadoghq.localhost:8081"),
        Err(SiteError::UnexpectedPort)
    );
    assert_eq!(
        parse("http://app.datadoghq.localhost"),
        Err(SiteError::UnexpectedPort)
    );
    assert_eq!(
        parse("http://datadoghq.localhost:8080"),
        Err(SiteError::NotAnAppHost)
    );
    assert_eq!(
        parse("http://app.other.localhost:8080"),
        Err(SiteError::DomainMismatch)
    );
    assert_eq!(
        parse("https://app.datadoghq.com"),
        Err(SiteError::UnexpectedPort)
    );
    assert_eq!(
        parse("ftp://app.datadoghq.localhost:8080"),
        Err(SiteError::UnsupportedScheme)
    );
    // A production domain never accepts an http:// site, even in sandbox mode.
    assert_eq!(
        Onboarding::parse(Some("http://app.datadoghq.com"), "datadoghq.com", ALLOW),
        Err(SiteError::UnsupportedScheme)
    );
}

#[test]
fn errors_display_without_input() {
    assert_eq!(
        SiteError::DomainMismatch.to_string(),
        "site does not belong to domain"
    );
    let boxed: Box<dyn std::error::Error> = Box::new(SiteError::UserInfo);
    assert_eq!(boxed.to_string(), "userinfo is not allowed");
}

fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("https://".to_string()),
        Just("http://".to_string()),
        Just("app.".to_string()),
        Just("acme.".to_string()),
        Just("datadoghq.com".to_string()),
        Just("us3.datadoghq.com".to_string()),
        Just("datadoghq.eu".to_string()),
        Just("ddog-gov.com".to_string()),
        Just("localhost".to_string()),
        Just("evil.com".to_string()),
        Just(".".to_string()),
        Just("@".to_string()),
        Just(":".to_string()),
        Just(":8080".to_string()),
        Just("/".to_string()),
        Just("?".to_string()),
        Just("#".to_string()),
        Just("%2e".to_string()),
        Just("xn--".to_string()),
        Just("-".to_string()),
        Just(" ".to_string()),
        "[a-zA-Z0-9]{0,70}",
        any::<String>(),
    ]
}

fn composed() -> impl Strategy<Value = String> {
    prop::collection::vec(fragment(), 0..8).prop_map(|parts| parts.concat())
}

fn domain_input() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(Region::ALL.map(Region::domain).to_vec()).prop_map(String::from),
        Just("datadoghq.localhost:8080".to_string()),
        composed(),
    ]
}

fn origin_host(origin: &str) -> &str {
    origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .expect("origin has a scheme")
}

proptest! {
    #[test]
    fn accepted_sites_stay_under_their_domain(
        site in composed(),
        domain in domain_input(),
        allow in any::<bool>(),
    ) {
        let policy = if allow { ALLOW } else { DENY };
        if let Ok(parsed) = Onboarding::parse(Some(&site), &domain, policy) {
            let origin = parsed.authorize_origin();
            let host = origin_host(origin);
            let domain = parsed.site().domain();
            prop_assert!(host.ends_with(&format!(".{domain}")) || host == domain, "{origin} {domain}");
            prop_assert!(origin.len() <= ORIGIN_MAX_LEN);
            prop_assert!(!host.contains(['/', '@', '?', '#', '%', '\\']));
            prop_assert!(parsed.site().api_host().ends_with(domain));
            if parsed.site().is_sandbox() {
                prop_assert!(allow);
                prop_assert!(parsed.site().api_host().name().ends_with(".localhost"));
            } else {
                prop_assert!(origin.starts_with("https://"));
                prop_assert!(!host.contains(':'));
            }
        }
    }

    #[test]
    fn sandbox_constructor_never_panics(domain in composed()) {
        if let Ok(site) = Site::sandbox(&domain) {
            prop_assert!(site.api_host().name().ends_with(".localhost"));
            prop_assert!(site.logs_host().len() <= HOST_MAX_LEN);
            prop_assert!(site.domain().eq_ignore_ascii_case(&domain));
        }
    }

    #[test]
    fn domain_parser_only_knows_nine(domain in domain_input()) {
        if let Ok(site) = Site::from_domain(&domain) {
            prop_assert!(!site.is_sandbox());
            prop_assert!(Region::ALL.map(Region::domain).contains(&site.domain()));
        }
    }
}
