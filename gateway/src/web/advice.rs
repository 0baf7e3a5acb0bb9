//! What to tell a person when the handshake fails: Datadog's troubleshooting advice for each
//! error ("Create an API-based integration" → Troubleshooting), plus the gateway's own checks.

use http::StatusCode;

use crate::datadog::DatadogError;

/// A failure page: what happened, what to do, and Datadog's own words when it gave any.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    /// Metric label (`ddlink_errors_total{kind}`).
    pub kind: &'static str,
    pub title: String,
    pub what_happened: String,
    pub what_to_do: Vec<String>,
    pub datadog_said: Option<String>,
}

impl Problem {
    fn new(
        status: StatusCode,
        kind: &'static str,
        title: &str,
        what_happened: &str,
        what_to_do: &[&str],
    ) -> Self {
        Self {
            status,
            kind,
            title: title.to_owned(),
            what_happened: what_happened.to_owned(),
            what_to_do: what_to_do.iter().map(|s| (*s).to_owned()).collect(),
            datadog_said: None,
        }
    }

    fn said(mut self, text: Option<String>) -> Self {
        self.datadog_said = text;
        self
    }
}

const START_AGAIN: &str =
    "Start again from the integration tile in Datadog (Configure → Connect Accounts).";

pub fn bad_onboarding_parameters(reason: &str) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "bad_site",
        "Unknown Datadog site",
        &format!(
            "The onboarding link does not name a Datadog site this gateway accepts ({reason})."
        ),
        &[START_AGAIN],
    )
}

pub fn state_missing() -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "state_missing",
        "Incomplete redirect",
        "Datadog's redirect back to the gateway carried no `state`, so it cannot be matched to a sign-in.",
        &[START_AGAIN],
    )
}

pub fn state_unknown() -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "state_invalid",
        "This authorisation link has expired or was already used",
        "Each authorisation can be completed once, within 10 minutes of starting it.",
        &[START_AGAIN],
    )
}

pub fn session_mismatch() -> Problem {
    Problem::new(
        StatusCode::FORBIDDEN,
        "session_mismatch",
        "Sign-in required",
        "The authorisation was not started from this signed-in admin session, so the gateway will not \
         finish it (this protects against someone else's authorisation being completed in your browser).",
        &["Sign in to the gateway in this browser.", START_AGAIN],
    )
}

pub fn domain_mismatch() -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "domain_mismatch",
        "Datadog site mismatch",
        "The redirect names a different Datadog domain than the one the authorisation started on. \
         The gateway contacted nobody: its client secret is only ever sent to the site you started from.",
        &[START_AGAIN],
    )
}

pub fn org_of_another_tenant() -> Problem {
    Problem::new(
        StatusCode::CONFLICT,
        "org_other_tenant",
        "This organisation is connected to another account",
        "This Datadog organisation is already connected to another account on this gateway. \
         Nothing was changed, and no API key was created.",
        &[
            "Check that you are signed in to the gateway with the account that should own this organisation.",
            "The organisation stays with that account, also after it disconnects there. If it should move \
             to this account, ask the gateway's operator.",
        ],
    )
}

pub fn code_missing() -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "code_missing",
        "Incomplete redirect",
        "Datadog's redirect carried neither an authorisation code nor an error.",
        &[START_AGAIN],
    )
}

fn invalid_client_id() -> Problem {
    Problem::new(
        StatusCode::BAD_GATEWAY,
        "invalid_client",
        "Invalid client ID",
        "Datadog did not accept the gateway's OAuth client (invalid_request - Invalid client_id parameter value).",
        &[
            "Until the OAuth client is published it can only be authorised from the account it was created in \
             (your partner sandbox account). Authorise from that organisation, or publish the client.",
            "If the client is published, configure the gateway with the client ID and client secret you were \
             given at submission (not the testing client's).",
            "The client secret is shown only once; if it is lost, contact ecosystems@datadog.com.",
        ],
    )
}

fn bad_client_credentials() -> Problem {
    Problem::new(
        StatusCode::BAD_GATEWAY,
        "invalid_client",
        "Datadog refused the gateway's client credentials",
        "The token request was rejected as unauthorised: the client ID or client secret configured on the \
         gateway does not match the OAuth client in Datadog's Developer Platform.",
        &[
            "Check `client_id` and the client secret (DDLINK_CLIENT_SECRET or client_secret_file).",
            "Testing and published clients have different IDs and secrets; use the pair that matches the tile \
             you started from. A rotated secret replaces the old one (ecosystems@datadog.com).",
            START_AGAIN,
        ],
    )
}

fn mismatching_redirect(redirect_uri: &str) -> Problem {
    Problem {
        what_to_do: vec![
            format!(
                "Make sure the OAuth client in Datadog's Developer Platform lists exactly this redirect URI: {redirect_uri}"
            ),
            "Make sure you use the right client: the testing client until the integration is published to your \
             sandbox account, the published client's ID afterwards."
                .to_owned(),
            START_AGAIN.to_owned(),
        ],
        ..Problem::new(
            StatusCode::BAD_GATEWAY,
            "redirect_mismatch",
            "Mismatching redirect URI",
            "Datadog rejected the redirect URI (invalid_request - Mismatching redirect URI). This usually comes \
             from configuration differences between the testing and the published OAuth client.",
            &[],
        )
    }
}

fn invalid_code_or_verifier() -> Problem {
    Problem::new(
        StatusCode::BAD_GATEWAY,
        "invalid_grant",
        "Invalid code or code verifier",
        "Datadog did not accept the authorisation code with its PKCE verifier. Codes are single-use and \
         short-lived, and only valid on the Datadog site that issued them.",
        &[
            START_AGAIN,
            "The gateway sends the token request as application/x-www-form-urlencoded, as Datadog requires; \
             if this keeps happening, check that nothing between the gateway and Datadog rewrites requests.",
        ],
    )
}

fn access_denied() -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "access_denied",
        "Authorisation was not granted",
        "Datadog reports that access was denied, so the gateway was not connected.",
        &[
            "To connect, start again from the integration tile and click Authorize.",
            "Users need the permissions for every scope the integration requests (an org admin can grant them).",
        ],
    )
}

fn key_exists(api_keys_page: &str) -> Problem {
    Problem {
        what_to_do: vec![
            format!("Open Datadog's API Keys page ({api_keys_page}) and find the key named \"OAuth Client API Key\"."),
            "Select it and click Revoke.".to_owned(),
            "Reinstall the integration and connect again from its tile: the gateway will receive and store a new key."
                .to_owned(),
        ],
        ..Problem::new(
            StatusCode::CONFLICT,
            "api_key_conflict",
            "Datadog already holds this integration's API key",
            "Datadog allows one API key per organisation for this integration and shows it only once. It was \
             created by an earlier connection and this gateway does not hold it, so it cannot send data with it.",
            &[],
        )
    }
}

fn forbidden() -> Problem {
    Problem::new(
        StatusCode::BAD_GATEWAY,
        "forbidden",
        "Datadog answered Forbidden",
        "Datadog refused the request ({\"errors\":[\"Forbidden\"]}). OAuth clients authenticate with the access \
         token as `Authorization: Bearer`, which the gateway does; so the token is invalid or expired, or the \
         client lacks the scope.",
        &[
            "Creating the API key needs the private `api_keys_write` scope on the OAuth client (ask \
             marketplace@datadog.com if it is missing).",
            START_AGAIN,
        ],
    )
}

fn unreachable(host: &str) -> Problem {
    Problem::new(
        StatusCode::BAD_GATEWAY,
        "transport",
        "Could not reach Datadog",
        &format!("The gateway could not complete its request to {host}."),
        &[
            "Check the gateway's outbound HTTPS access to Datadog's API host.",
            "API calls always go to api.<domain> (never a custom subdomain such as bigcorp.datadoghq.eu), so a \
             \"Hostname/IP does not match certificate's altnames\" error points at a proxy or DNS problem.",
            START_AGAIN,
        ],
    )
}

/// The page for an `error` Datadog put on the redirect back to the gateway.
pub fn callback_error(error: &str, description: Option<&str>, redirect_uri: &str) -> Problem {
    let said = Some(match description {
        Some(d) => format!("{error} - {d}"),
        None => error.to_owned(),
    });
    let description = description.unwrap_or("").to_ascii_lowercase();
    let problem = if error == "access_denied" {
        access_denied()
    } else if description.contains("client_id") {
        invalid_client_id()
    } else if description.contains("redirect") {
        mismatching_redirect(redirect_uri)
    } else {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "authorize_error",
            "Datadog could not authorise the gateway",
            "Datadog redirected back with an error instead of an authorisation code.",
            &[START_AGAIN],
        )
    };
    problem.said(said.map(|s| s.chars().take(300).collect()))
}

/// The page for a failed token exchange or API-key creation.
pub fn datadog_error(
    error: &DatadogError,
    api_host: &str,
    app_host: &str,
    redirect_uri: &str,
) -> Problem {
    match error {
        DatadogError::OAuth {
            status,
            code,
            description,
        } => {
            let text = description.as_deref().unwrap_or("").to_ascii_lowercase();
            let problem = if text.contains("client_id") {
                invalid_client_id()
            } else if code == "invalid_client" || *status == Some(401) {
                bad_client_credentials()
            } else if text.contains("redirect") {
                mismatching_redirect(redirect_uri)
            } else if code == "invalid_grant" || text.contains("verifier") || text.contains("code")
            {
                invalid_code_or_verifier()
            } else {
                Problem::new(
                    StatusCode::BAD_GATEWAY,
                    "oauth_error",
                    "Datadog refused the token request",
                    "The authorisation code could not be exchanged for tokens.",
                    &[START_AGAIN],
                )
            };
            problem.said(Some(match description {
                Some(d) => format!("{code} - {d}"),
                None => code.clone(),
            }))
        }
        DatadogError::KeyExists => key_exists(&format!(
            "https://{app_host}/organization-settings/api-keys"
        )),
        DatadogError::Api {
            status: 401,
            errors,
        } => bad_client_credentials().said(Some(errors.join("; "))),
        DatadogError::Api {
            status: 403,
            errors,
        } => forbidden().said(Some(errors.join("; "))),
        DatadogError::Api { status, errors } => Problem::new(
            StatusCode::BAD_GATEWAY,
            "datadog_api",
            "Datadog returned an error",
            &format!("Datadog answered HTTP {status}."),
            &["Wait a minute, then start again from the integration tile."],
        )
        .said((!errors.is_empty()).then(|| errors.join("; "))),
        DatadogError::Transport(_) => unreachable(api_host),
        DatadogError::Unexpected(detail) => Problem::new(
            StatusCode::BAD_GATEWAY,
            "unexpected_response",
            "Unexpected answer from Datadog",
            &format!("The gateway could not understand Datadog's response ({detail})."),
            &[START_AGAIN],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oauth(status: u16, code: &str, description: &str) -> DatadogError {
        DatadogError::OAuth {
            status: Some(status),
            code: code.into(),
            description: Some(description.into()),
        }
    }

    #[test]
    fn each_troubleshooting_error_gets_its_own_advice() {
        let page = |e: &DatadogError| {
            datadog_error(
                e,
                "api.datadoghq.eu",
                "app.datadoghq.eu",
                "https://gw/oauth/callback",
            )
        };
        assert_eq!(
            page(&oauth(
                400,
                "invalid_request",
                "Invalid client_id parameter value"
            ))
            .kind,
            "invalid_client"
        );
        assert_eq!(
            page(&oauth(401, "invalid_client", "bad secret")).kind,
            "invalid_client"
        );
        let redirect = page(&oauth(400, "invalid_request", "Mismatching redirect URI"));
        assert_eq!(redirect.kind, "redirect_mismatch");
        assert!(redirect.what_to_do[0].contains("https://gw/oauth/callback"));
        assert_eq!(
            page(&oauth(
                400,
                "invalid_grant",
                "Invalid code or code verifier"
            ))
            .kind,
            "invalid_grant"
        );
        let conflict = page(&DatadogError::KeyExists);
        assert_eq!(conflict.status, StatusCode::CONFLICT);
        assert!(
            conflict.what_to_do[0]
                .contains("https://app.datadoghq.eu/organization-settings/api-keys")
        );
        assert!(conflict.what_to_do[0].contains("OAuth Client API Key"));
        let forbidden = page(&DatadogError::Api {
            status: 403,
            errors: vec!["Forbidden".into()],
        });
        assert_eq!(forbidden.kind, "forbidden");
        assert!(forbidden.what_to_do[0].contains("api_keys_write"));
        let transport = page(&DatadogError::Transport(
            crate::http_client::TransportError::Connect {
                host: "api.datadoghq.eu".into(),
            },
        ));
        assert!(transport.what_to_do[1].contains("altnames"));
    }

    #[test]
    fn callback_errors_map_to_advice() {
        assert_eq!(
            callback_error("access_denied", Some("user cancelled"), "r").kind,
            "access_denied"
        );
        assert_eq!(
            callback_error(
                "invalid_request",
                Some("Invalid client_id parameter value"),
                "r"
            )
            .kind,
            "invalid_client"
        );
        assert_eq!(
            callback_error("invalid_request", Some("Mismatching redirect URI"), "r").kind,
            "redirect_mismatch"
        );
    }
}
