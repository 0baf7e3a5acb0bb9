//! Provisioning protocol v1, device side: the shared vectors (computed by an independent Python
//! implementation), every outcome, and every way an answer can be wrong.

mod provision_support;

use ddlink_core::provision::{
    AAD_MAX_LEN, ApiKey, CHALLENGE_PATH, CHALLENGE_REQUEST_MAX_LEN, Challenge, ChallengeReply,
    DeviceIdentity, DeviceSecret, ExchangeSecrets, LEASE_MAX_SECS, LEASE_MIN_SECS, LastError,
    MacInput, PROVISION_PATH, PROVISION_REQUEST_MAX_LEN, ProvisionError, ProvisionExchange,
    ProvisionOutcome, RESPONSE_MAX_LEN, RETRY_AFTER_MAX_SECS, SEALED_KEY_MAX_LEN, SealedClaims,
    derive_device_secret, open_sealed_key, provision_mac, read_challenge_response, seal_api_key,
    verify_provision_mac,
};
use ddlink_core::site::{Region, SandboxPolicy, Site};
use provision_support::{
    Approval, TEST_API_KEY, TEST_CHALLENGE, TEST_DEVICE_NONCE, TEST_SECRET, b64, hex, hex_array,
    vectors,
};

fn site_of(domain: &str) -> Site {
    Site::from_domain(domain)
        .or_else(|_| Site::sandbox(domain))
        .expect("vector site")
}

#[test]
fn vectors_match_the_independent_implementation() {
    let all = vectors();
    assert_eq!(all.len(), 3, "all three vectors present");
    assert!(
        all.iter().any(|v| v["inputs"]["last_error"].is_string()),
        "a vector covers last_error"
    );
    for vector in all {
        let name = vector["name"].as_str().expect("name");
        let input = &vector["inputs"];
        let output = &vector["outputs"];
        let text = |key: &str| input[key].as_str().expect(key).to_owned();
        let (fleet, device_id) = (text("fleet"), text("device_id"));

        let secret = derive_device_secret(&hex(&text("fleet_key_hex")), &fleet, &device_id)
            .expect("valid names");
        assert_eq!(
            secret.expose_secret().to_vec(),
            hex(output["device_secret_hex"].as_str().expect("secret")),
            "{name}: device secret"
        );

        let challenge: [u8; 32] = hex_array(&text("challenge_hex"));
        let device_nonce: [u8; 16] = hex_array(&text("device_nonce_hex"));
        let seal_nonce: [u8; 12] = hex_array(&text("seal_nonce_hex"));
        let last_error = input["last_error"]
            .as_str()
            .map(|text| LastError::from_wire(text).expect("a known last_error"));
        let mac_input = MacInput {
            challenge: &challenge,
            device_nonce: &device_nonce,
            device_id: &device_id,
            last_error,
        };
        let mac = provision_mac(&secret, &mac_input);
        let expected_mac = hex(output["mac_hex"].as_str().expect("mac"));
        assert_eq!(mac.to_vec(), expected_mac, "{name}: mac");
        assert!(verify_provision_mac(&secret, &mac_input, &expected_mac));
        // The report is covered: the same request without it (or with it added) does not verify.
        let flipped = MacInput {
            last_error: match last_error {
                Some(_) => None,
                None => Some(LastError::Forbidden),
            },
            ..mac_input
        };
        assert!(
            !verify_provision_mac(&secret, &flipped, &expected_mac),
            "{name}: last_error is MAC'd"
        );

        let site = site_of(&text("site"));
        assert_eq!(
            site.api_host(),
            text("api_host").as_str(),
            "{name}: api host rule"
        );
        assert_eq!(
            site.logs_host(),
            text("logs_host").as_str(),
            "{name}: logs host rule"
        );
        let key_version = u32::try_from(input["key_version"].as_u64().expect("kv")).expect("u32");
        let server_time = input["server_time"].as_u64().expect("time");
        let lease_secs = u32::try_from(input["lease_secs"].as_u64().expect("lease")).expect("u32");
        let claims = SealedClaims {
            device_id: &device_id,
            key_version,
            site,
            server_time,
            lease_secs,
        };
        let mut aad = [0u8; AAD_MAX_LEN];
        let aad_len = claims.write_aad(&mut aad).expect("aad fits");
        assert_eq!(
            aad[..aad_len].to_vec(),
            hex(output["aad_hex"].as_str().expect("aad")),
            "{name}: aad"
        );

        let exchange = ExchangeSecrets {
            secret: &secret,
            challenge: &challenge,
            device_nonce: &device_nonce,
        };
        let api_key = ApiKey::new(&text("api_key")).expect("valid key");
        let mut sealed = [0u8; SEALED_KEY_MAX_LEN];
        let sealed_len =
            seal_api_key(&exchange, &claims, &seal_nonce, &api_key, &mut sealed).expect("seal");
        assert_eq!(
            sealed[..sealed_len].to_vec(),
            hex(output["sealed_key_hex"].as_str().expect("sealed")),
            "{name}: sealed key"
        );

        // The device writes exactly the reference request body…
        let identity = DeviceIdentity::new(&fleet, &device_id, &secret).expect("identity");
        let mut exchange = ProvisionExchange::new(
            identity,
            &Challenge::from_bytes(challenge, 60),
            device_nonce,
        );
        if let Some(last_error) = last_error {
            exchange = exchange.with_last_error(last_error);
        }
        let mut body = [0u8; PROVISION_REQUEST_MAX_LEN];
        let len = exchange.write_request(&mut body).expect("fits");
        assert_eq!(
            std::str::from_utf8(&body[..len]).expect("utf8"),
            output["provision_request_body"].as_str().expect("request"),
            "{name}: request body"
        );

        // …and opens the reference answer.
        let response = output["approved_response_body"].as_str().expect("response");
        let outcome = exchange
            .read_response(200, response.as_bytes(), SandboxPolicy::Allow)
            .expect("authentic answer");
        let ProvisionOutcome::Approved(provisioned) = outcome else {
            panic!("{name}: expected approval, got {outcome:?}");
        };
        assert_eq!(provisioned.api_key.as_str(), text("api_key"), "{name}");
        assert_eq!(provisioned.key_version, key_version);
        assert_eq!(provisioned.site, site);
        assert_eq!(provisioned.api_host, text("api_host").as_str());
        assert_eq!(provisioned.logs_host, text("logs_host").as_str());
        assert_eq!(provisioned.server_time, server_time);
        assert_eq!(provisioned.lease_secs, lease_secs);
    }
}

fn secret() -> DeviceSecret {
    DeviceSecret::from_bytes(TEST_SECRET)
}

fn exchange(secret: &DeviceSecret) -> ProvisionExchange<'_> {
    let identity = DeviceIdentity::new("fleet-1", "dev-1", secret).expect("identity");
    ProvisionExchange::new(
        identity,
        &Challenge::from_bytes(TEST_CHALLENGE, 60),
        TEST_DEVICE_NONCE,
    )
}

fn approval(secret: &DeviceSecret, site: Site) -> Approval {
    Approval::seal(secret, site, 5, 1_800_000_000, TEST_API_KEY)
}

fn read(
    exchange: &ProvisionExchange<'_>,
    status: u16,
    body: &str,
) -> Result<ProvisionOutcome, ProvisionError> {
    exchange.read_response(status, body.as_bytes(), SandboxPolicy::Deny)
}

#[test]
fn challenge_request_body_and_paths() {
    let secret = secret();
    let identity = DeviceIdentity::new("acme", "pump-7", &secret).expect("identity");
    let mut out = [0u8; CHALLENGE_REQUEST_MAX_LEN];
    let len = identity.write_challenge_request(&mut out).expect("fits");
    assert_eq!(&out[..len], br#"{"fleet":"acme","device_id":"pump-7"}"#);
    assert_eq!(CHALLENGE_PATH, "/v1/provision/challenge");
    assert_eq!(PROVISION_PATH, "/v1/provision");

    // The advertised maxima hold for the longest names.
    let long = "a".repeat(64);
    let identity = DeviceIdentity::new(&long, &long, &secret).expect("identity");
    assert_eq!(
        identity.write_challenge_request(&mut out),
        Ok(CHALLENGE_REQUEST_MAX_LEN)
    );
    let exchange = ProvisionExchange::new(identity, &Challenge::from_bytes([0; 32], 60), [0; 16])
        .with_last_error(LastError::Forbidden);
    let mut out = [0u8; PROVISION_REQUEST_MAX_LEN];
    assert_eq!(
        exchange.write_request(&mut out),
        Ok(PROVISION_REQUEST_MAX_LEN)
    );
}

#[test]
fn too_small_buffers_are_left_untouched() {
    let secret = secret();
    let identity = DeviceIdentity::new("acme", "pump-7", &secret).expect("identity");
    let mut out = [0xeeu8; 20];
    assert_eq!(
        identity.write_challenge_request(&mut out),
        Err(ProvisionError::BufferTooSmall)
    );
    assert_eq!(out, [0xee; 20]);
    let mut out = [0xeeu8; 100];
    assert_eq!(
        exchange(&secret).write_request(&mut out),
        Err(ProvisionError::BufferTooSmall)
    );
    assert_eq!(out, [0xee; 100]);
}

#[test]
fn identity_rejects_bad_names() {
    let secret = secret();
    assert_eq!(
        DeviceIdentity::new("Acme", "d", &secret).err(),
        Some(ProvisionError::InvalidFleet)
    );
    assert_eq!(
        DeviceIdentity::new("acme", "", &secret).err(),
        Some(ProvisionError::InvalidDeviceId)
    );
    assert_eq!(
        DeviceIdentity::new("acme", &"d".repeat(65), &secret).err(),
        Some(ProvisionError::InvalidDeviceId)
    );
    assert_eq!(
        derive_device_secret(&[1; 32], "a\"b", "d").err(),
        Some(ProvisionError::InvalidFleet)
    );
}

#[test]
fn challenge_replies() {
    let challenge = [9u8; 32];
    let body = format!(r#"{{"challenge":"{}","expires_in":60}}"#, b64(&challenge));
    assert_eq!(
        read_challenge_response(200, body.as_bytes()),
        Ok(ChallengeReply::Issued(Challenge::from_bytes(challenge, 60)))
    );
    // Escaped characters are unescaped before decoding ("\u0043" is "C").
    let escaped = b64(&challenge).replacen('C', "\\u0043", 1);
    assert!(
        escaped.contains("\\u0043"),
        "the test must exercise an escape"
    );
    let body = format!(r#" {{ "expires_in" : 60 , "challenge" : "{escaped}" }} "#);
    assert_eq!(
        read_challenge_response(200, body.as_bytes()),
        Ok(ChallengeReply::Issued(Challenge::from_bytes(challenge, 60)))
    );
    assert_eq!(
        read_challenge_response(404, br#"{"status":"unknown_fleet"}"#),
        Ok(ChallengeReply::UnknownFleet)
    );
    assert_eq!(
        read_challenge_response(429, br#"{"status":"rate_limited","retry_after":7}"#),
        Ok(ChallengeReply::RateLimited {
            retry_after_secs: 7
        })
    );
    // Unauthenticated: a forged 429 may delay the device by RETRY_AFTER_MAX_SECS, no more.
    assert_eq!(
        RETRY_AFTER_MAX_SECS, 3_600,
        "the documented maximum is one hour"
    );
    for (asked, granted) in [
        (3_600, 3_600),
        (3_601, RETRY_AFTER_MAX_SECS),
        (u32::MAX, RETRY_AFTER_MAX_SECS),
    ] {
        let body = format!(r#"{{"status":"rate_limited","retry_after":{asked}}}"#);
        assert_eq!(
            read_challenge_response(429, body.as_bytes()),
            Ok(ChallengeReply::RateLimited {
                retry_after_secs: granted
            })
        );
    }

    let bad = [
        (
            200,
            r#"{"challenge":"AAAA","expires_in":60}"#.to_owned(),
            ProvisionError::InvalidEncoding,
        ),
        (
            200,
            format!(r#"{{"challenge":"{}","expires_in":60}}"#, b64(&[1; 31])),
            ProvisionError::InvalidEncoding,
        ),
        (
            200,
            r#"{"expires_in":60}"#.to_owned(),
            ProvisionError::MalformedBody,
        ),
        (
            200,
            format!(
                r#"{{"status":"pending","challenge":"{}","expires_in":60}}"#,
                b64(&challenge)
            ),
            ProvisionError::StatusMismatch,
        ),
        (
            404,
            r#"{"status":"revoked"}"#.to_owned(),
            ProvisionError::StatusMismatch,
        ),
        (
            429,
            r#"{"status":"rate_limited"}"#.to_owned(),
            ProvisionError::MalformedBody,
        ),
        (
            500,
            "Internal Server Error".to_owned(),
            ProvisionError::MalformedBody,
        ),
        (
            500,
            "{}".to_owned(),
            ProvisionError::UnexpectedHttpStatus(500),
        ),
        (
            400,
            r#"{"error":"bad"}"#.to_owned(),
            ProvisionError::UnexpectedHttpStatus(400),
        ),
    ];
    for (status, body, expected) in bad {
        assert_eq!(
            read_challenge_response(status, body.as_bytes()),
            Err(expected),
            "{body}"
        );
    }
}

#[test]
fn non_canonical_base64_is_refused() {
    // 32 bytes leave 2 trailing bits in the last character before `=`; setting one of them
    // gives text that decodes to the same bytes but is not canonical.
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let canonical = b64(&[1u8; 32]);
    let last = canonical.chars().nth(42).expect("char before padding");
    let value = ALPHABET.find(last).expect("base64 char");
    assert_eq!(value & 0b11, 0, "canonical trailing bits are zero");
    let altered = ALPHABET.chars().nth(value | 1).expect("in range");
    let mut tweaked: String = canonical.chars().take(42).collect();
    tweaked.push(altered);
    tweaked.push('=');
    for text in [
        tweaked,
        canonical.trim_end_matches('=').to_owned(),
        canonical.replace('=', "A"),
    ] {
        let body = format!(r#"{{"challenge":"{text}","expires_in":60}}"#);
        assert_eq!(
            read_challenge_response(200, body.as_bytes()),
            Err(ProvisionError::InvalidEncoding),
            "{text}"
        );
    }
}

#[test]
fn every_outcome_and_every_mismatch() {
    let secret = secret();
    let exchange = exchange(&secret);
    type Case = (u16, &'static str, fn(&ProvisionOutcome) -> bool);
    let cases: [Case; 5] = [
        (202, r#"{"status":"pending"}"#, |o| {
            matches!(o, ProvisionOutcome::Pending)
        }),
        (403, r#"{"status":"revoked"}"#, |o| {
            matches!(o, ProvisionOutcome::Revoked)
        }),
        (409, r#"{"status":"not_connected"}"#, |o| {
            matches!(o, ProvisionOutcome::NotConnected)
        }),
        (401, r#"{"status":"unauthorized"}"#, |o| {
            matches!(o, ProvisionOutcome::Unauthorized)
        }),
        (429, r#"{"status":"rate_limited","retry_after":30}"#, |o| {
            matches!(
                o,
                ProvisionOutcome::RateLimited {
                    retry_after_secs: 30
                }
            )
        }),
    ];
    for (status, body, expected) in cases {
        let outcome = read(&exchange, status, body).expect(body);
        assert!(expected(&outcome), "{status} {body} gave {outcome:?}");
    }
    let forged = read(
        &exchange,
        429,
        r#"{"status":"rate_limited","retry_after":4294967295}"#,
    );
    assert!(
        matches!(
            forged,
            Ok(ProvisionOutcome::RateLimited {
                retry_after_secs: RETRY_AFTER_MAX_SECS
            })
        ),
        "{forged:?}"
    );
    let mismatches = [
        (200, r#"{"status":"pending"}"#),
        (202, r#"{"status":"approved"}"#),
        (403, r#"{"status":"pending"}"#),
        (401, r#"{"status":"revoked"}"#),
        (409, r#"{}"#),
    ];
    for (status, body) in mismatches {
        assert_eq!(
            read(&exchange, status, body).err(),
            Some(ProvisionError::StatusMismatch)
        );
    }
    assert_eq!(
        read(&exchange, 503, r#"{"status":"approved"}"#).err(),
        Some(ProvisionError::UnexpectedHttpStatus(503))
    );
    // A body that is not the expected JSON is malformed, whatever the status says.
    for body in [
        "",
        "<html>401</html>",
        r#"{"status":"pending""#,
        r#"{"status":"pending"} x"#,
    ] {
        assert_eq!(
            read(&exchange, 202, body).err(),
            Some(ProvisionError::MalformedBody)
        );
    }
}

#[test]
fn approval_opens_and_unknown_fields_are_ignored() {
    let secret = secret();
    let exchange = exchange(&secret);
    let approval = approval(&secret, Site::from(Region::Us5));
    let mut json: serde_json::Value =
        serde_json::from_str(&approval.to_json()).expect("approval json");
    json["future_field"] = serde_json::json!("ignored");
    let outcome = read(&exchange, 200, &json.to_string()).expect("opens");
    let ProvisionOutcome::Approved(provisioned) = outcome else {
        panic!("expected approval, got {outcome:?}");
    };
    assert_eq!(provisioned.api_key.as_str(), TEST_API_KEY);
    assert_eq!(provisioned.site, Site::from(Region::Us5));
    assert_eq!(provisioned.api_host, "api.us5.datadoghq.com");
    assert_eq!(provisioned.logs_host, "http-intake.logs.us5.datadoghq.com");
    assert_eq!(provisioned.key_version, 5);
    assert_eq!(provisioned.server_time, 1_800_000_000);
    assert_eq!(provisioned.lease_secs, provision_support::TEST_LEASE_SECS);
    // Debug of the whole outcome never shows the key.
    let debug = format!("{provisioned:?}");
    assert!(!debug.contains(TEST_API_KEY), "{debug}");
    assert!(debug.contains("ApiKey(<redacted>)"), "{debug}");
}

fn approval_with(secret: &DeviceSecret, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut json: serde_json::Value =
        serde_json::from_str(&approval(secret, Site::from(Region::Eu1)).to_json()).expect("json");
    edit(&mut json);
    json.to_string()
}

#[test]
fn tampered_claims_are_detected() {
    let secret = secret();
    let exchange = exchange(&secret);
    type Edit = fn(&mut serde_json::Value);
    let cases: [(&str, Edit, ProvisionError); 12] = [
        (
            "lease_secs (in range)",
            |j| j["lease_secs"] = 3_601.into(),
            ProvisionError::AuthenticationFailed,
        ),
        (
            "lease_secs below the minimum",
            |j| j["lease_secs"] = (LEASE_MIN_SECS - 1).into(),
            ProvisionError::InvalidLease,
        ),
        (
            "lease_secs above the maximum",
            |j| j["lease_secs"] = (LEASE_MAX_SECS + 1).into(),
            ProvisionError::InvalidLease,
        ),
        (
            "key_version",
            |j| j["key_version"] = 6.into(),
            ProvisionError::AuthenticationFailed,
        ),
        (
            "server_time",
            |j| j["server_time"] = 1_800_000_001u64.into(),
            ProvisionError::AuthenticationFailed,
        ),
        (
            "site (consistent hosts)",
            |j| {
                j["site"] = "datadoghq.com".into();
                j["api_host"] = "api.datadoghq.com".into();
                j["logs_host"] = "http-intake.logs.datadoghq.com".into();
            },
            ProvisionError::AuthenticationFailed,
        ),
        (
            "api_host",
            |j| j["api_host"] = "api.evil.example".into(),
            ProvisionError::HostMismatch,
        ),
        (
            "logs_host",
            |j| j["logs_host"] = "api.datadoghq.eu".into(),
            ProvisionError::HostMismatch,
        ),
        (
            "site case",
            |j| j["site"] = "DATADOGHQ.EU".into(),
            ProvisionError::InvalidSite,
        ),
        (
            "unknown site",
            |j| j["site"] = "datadoghq.example".into(),
            ProvisionError::InvalidSite,
        ),
        (
            "sandbox site",
            |j| j["site"] = "datadoghq.localhost:8080".into(),
            ProvisionError::SandboxNotAllowed,
        ),
        (
            "nonce",
            |j| j["nonce"] = b64(&[8; 12]).into(),
            ProvisionError::AuthenticationFailed,
        ),
    ];
    for (what, edit, expected) in cases {
        let body = approval_with(&secret, edit);
        assert_eq!(read(&exchange, 200, &body).err(), Some(expected), "{what}");
    }
    for (what, field) in [
        ("missing sealed_key", "sealed_key"),
        ("missing server_time", "server_time"),
        ("missing lease_secs", "lease_secs"),
    ] {
        let body = approval_with(&secret, |j| {
            j.as_object_mut().expect("object").remove(field);
        });
        assert_eq!(
            read(&exchange, 200, &body).err(),
            Some(ProvisionError::MalformedBody),
            "{what}"
        );
    }
    let short = approval_with(&secret, |j| j["sealed_key"] = b64(&[0; 15]).into());
    assert_eq!(
        read(&exchange, 200, &short).err(),
        Some(ProvisionError::AuthenticationFailed)
    );
    let long = approval_with(&secret, |j| {
        j["sealed_key"] = b64(&[0; SEALED_KEY_MAX_LEN + 1]).into()
    });
    assert_eq!(
        read(&exchange, 200, &long).err(),
        Some(ProvisionError::InvalidEncoding)
    );
}

#[test]
fn replayed_or_foreign_answers_fail_authentication() {
    let secret = secret();
    let body = approval(&secret, Site::from(Region::Eu1)).to_json();
    // Same device, same challenge, but the device used a different (fresh) nonce.
    let identity = DeviceIdentity::new("fleet-1", "dev-1", &secret).expect("identity");
    let fresh = ProvisionExchange::new(
        identity,
        &Challenge::from_bytes(TEST_CHALLENGE, 60),
        [1; 16],
    );
    assert_eq!(
        read(&fresh, 200, &body).err(),
        Some(ProvisionError::AuthenticationFailed)
    );
    // Another device of the fleet cannot open it either (device_id is in the AAD, and its
    // secret differs).
    let other_secret = DeviceSecret::from_bytes([0x43; 32]);
    let other = exchange(&other_secret);
    assert_eq!(
        read(&other, 200, &body).err(),
        Some(ProvisionError::AuthenticationFailed)
    );
    let other_id = DeviceIdentity::new("fleet-1", "dev-2", &secret).expect("identity");
    let other_id = ProvisionExchange::new(
        other_id,
        &Challenge::from_bytes(TEST_CHALLENGE, 60),
        TEST_DEVICE_NONCE,
    );
    assert_eq!(
        read(&other_id, 200, &body).err(),
        Some(ProvisionError::AuthenticationFailed)
    );
}

#[test]
fn sandbox_sites_need_the_sandbox_policy() {
    let secret = secret();
    let exchange = exchange(&secret);
    let site = Site::sandbox("datadoghq.localhost:9000").expect("sandbox");
    let body = approval(&secret, site).to_json();
    assert_eq!(
        read(&exchange, 200, &body).err(),
        Some(ProvisionError::SandboxNotAllowed)
    );
    let outcome = exchange
        .read_response(200, body.as_bytes(), SandboxPolicy::Allow)
        .expect("allowed");
    let ProvisionOutcome::Approved(provisioned) = outcome else {
        panic!("expected approval");
    };
    assert_eq!(provisioned.api_host, "api.datadoghq.localhost:9000");
    assert!(provisioned.site.is_sandbox());
}

#[test]
fn a_sealed_key_that_is_not_a_header_value_is_refused() {
    let secret = secret();
    let exchange_secrets = ExchangeSecrets {
        secret: &secret,
        challenge: &TEST_CHALLENGE,
        device_nonce: &TEST_DEVICE_NONCE,
    };
    let claims = SealedClaims {
        device_id: "dev-1",
        key_version: 1,
        site: Site::from(Region::Us1),
        server_time: 1,
        lease_secs: 60,
    };
    // The gateway-side sealer only takes a valid `ApiKey`; build the bad plaintext by sealing a
    // valid key and flipping the ciphertext is not possible (authenticated), so instead check
    // the holder's rule directly and the open path with an empty key (tag only).
    assert_eq!(
        ApiKey::new("has space").err(),
        Some(ProvisionError::InvalidApiKey)
    );
    let mut sealed = [0u8; SEALED_KEY_MAX_LEN];
    let key = ApiKey::new("k").expect("one char is valid");
    let len = seal_api_key(&exchange_secrets, &claims, &[0; 12], &key, &mut sealed).expect("seal");
    assert_eq!(len, 1 + 16);
    let opened =
        open_sealed_key(&exchange_secrets, &claims, &[0; 12], &sealed[..len]).expect("opens");
    assert_eq!(opened.as_str(), "k");
    // Sealing into a buffer that is too small fails cleanly.
    assert_eq!(
        seal_api_key(
            &exchange_secrets,
            &claims,
            &[0; 12],
            &key,
            &mut sealed[..16]
        ),
        Err(ProvisionError::BufferTooSmall)
    );
}

#[test]
fn hostile_bodies_are_malformed_not_fatal() {
    let secret = secret();
    let exchange = exchange(&secret);
    let nested = format!(
        r#"{{"status":"pending","x":{}{}}}"#,
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let oversize = format!(
        r#"{{"status":"pending","pad":"{}"}}"#,
        "a".repeat(RESPONSE_MAX_LEN)
    );
    let long_string = format!(r#"{{"status":"{}"}}"#, "p".repeat(200));
    let duplicate = r#"{"status":"pending","status":"pending"}"#.to_owned();
    let bad_utf8_escape = r#"{"status":"\ud800"}"#.to_owned();
    for body in [nested, oversize, long_string, duplicate, bad_utf8_escape] {
        assert_eq!(
            read(&exchange, 202, &body).err(),
            Some(ProvisionError::MalformedBody),
            "{}",
            &body[..body.len().min(60)]
        );
    }
    // One level of nesting in an ignored field is fine, two are not.
    assert!(matches!(
        read(
            &exchange,
            202,
            r#"{"status":"pending","detail":{"a":[1,2]}}"#
        ),
        Err(ProvisionError::MalformedBody)
    ));
    assert!(matches!(
        read(&exchange, 202, r#"{"status":"pending","detail":[1,"]",2]}"#),
        Ok(ProvisionOutcome::Pending)
    ));
}

#[test]
fn secret_holders_redact_and_parse() {
    let secret = DeviceSecret::from_hex(&"00FF10aB".repeat(8)).expect("hex");
    assert_eq!(secret.expose_secret()[..4], [0x00, 0xff, 0x10, 0xab]);
    assert_eq!(format!("{secret:?}"), "DeviceSecret(<redacted>)");
    for bad in ["", "0", &"0".repeat(63), &"0".repeat(65), &"g".repeat(64)] {
        assert_eq!(
            DeviceSecret::from_hex(bad).err(),
            Some(ProvisionError::InvalidSecretHex)
        );
    }
    let key = ApiKey::new(TEST_API_KEY).expect("key");
    assert_eq!(format!("{key:?}"), "ApiKey(<redacted>)");
    for bad in ["", "a b", "a\nb", "é", &"k".repeat(65)] {
        assert_eq!(
            ApiKey::new(bad).err(),
            Some(ProvisionError::InvalidApiKey),
            "{bad:?}"
        );
    }
    assert_eq!(
        ApiKey::new(&"k".repeat(64)).expect("fits").as_str().len(),
        64
    );
    // Error texts carry no input.
    assert_eq!(
        ProvisionError::UnexpectedHttpStatus(418).to_string(),
        "unexpected HTTP status 418"
    );
}

#[test]
fn leases_at_both_bounds_are_accepted() {
    let secret = secret();
    let exchange = exchange(&secret);
    for lease_secs in [LEASE_MIN_SECS, LEASE_MAX_SECS] {
        let body = Approval::seal_leased(
            &secret,
            Site::from(Region::Us1),
            2,
            1_800_000_000,
            lease_secs,
            TEST_API_KEY,
        )
        .to_json();
        let Ok(ProvisionOutcome::Approved(provisioned)) = read(&exchange, 200, &body) else {
            panic!("a {lease_secs} s lease is in range");
        };
        assert_eq!(provisioned.lease_secs, lease_secs);
    }
}

#[test]
fn last_error_is_written_and_covered_by_the_mac() {
    let secret = secret();
    let plain = exchange(&secret);
    let reporting = exchange(&secret).with_last_error(LastError::Forbidden);
    let mut body = [0u8; PROVISION_REQUEST_MAX_LEN];
    let len = reporting.write_request(&mut body).expect("fits");
    let json: serde_json::Value = serde_json::from_slice(&body[..len]).expect("JSON");
    assert_eq!(json["last_error"], "forbidden");
    let mac = provision_support::hex_from_b64(json["mac"].as_str().expect("mac"));
    let input = MacInput {
        challenge: &TEST_CHALLENGE,
        device_nonce: &TEST_DEVICE_NONCE,
        device_id: "dev-1",
        last_error: Some(LastError::Forbidden),
    };
    assert!(verify_provision_mac(&secret, &input, &mac));
    let without = MacInput {
        last_error: None,
        ..input
    };
    assert!(
        !verify_provision_mac(&secret, &without, &mac),
        "the report is MAC'd"
    );

    let len = plain.write_request(&mut body).expect("fits");
    let json: serde_json::Value = serde_json::from_slice(&body[..len]).expect("JSON");
    assert!(json.get("last_error").is_none(), "no report, no field");
    assert_eq!(
        LastError::from_wire("forbidden"),
        Some(LastError::Forbidden)
    );
    assert_eq!(LastError::from_wire("Forbidden"), None);
}
