//! Datadog's partner OAuth endpoints and the API calls the gateway makes with the tokens.
//!
//! Every host comes from [`ddlink_core::site`]: the authorize URL from the validated `site`
//! origin, everything else from `api.<domain>`. Requests go through [`Outbound`], which refuses
//! hosts outside the allow-list. The `oauth2` crate builds the requests; a client is built per
//! call because the endpoints depend on the organisation's domain.

use std::sync::{Arc, Mutex};

use ddlink_core::site::{AUTHORIZE_PATH, Onboarding, Site};
use oauth2::basic::{BasicClient, BasicErrorResponse};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, ErrorResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, TokenResponse as _, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::http_client::{HttpRequest, HttpResponse, Outbound, TransportError};

/// Access-token lifetime assumed when the token response has no `expires_in`.
const DEFAULT_ACCESS_TTL_SECS: i64 = 3600;
/// Longest `error_description` kept from Datadog (it is shown on pages, escaped).
const DESCRIPTION_MAX: usize = 300;

/// The RFC 6749 error codes the gateway acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthCode {
    /// The code, verifier or refresh token was refused.
    InvalidGrant,
    /// The client credentials were refused.
    InvalidClient,
    /// Any other code (shown, not acted on).
    Other,
}

impl OAuthCode {
    pub fn of(code: &str) -> Self {
        match code {
            "invalid_grant" => Self::InvalidGrant,
            "invalid_client" => Self::InvalidClient,
            _ => Self::Other,
        }
    }
}

/// What went wrong talking to Datadog. Never contains tokens, keys or the client secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DatadogError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// An RFC 6749 error from the token or revoke endpoint.
    #[error("Datadog OAuth error (HTTP {status:?}): {code}{}", description.as_deref().map(|d| format!(" - {d}")).unwrap_or_default())]
    OAuth {
        status: Option<u16>,
        code: String,
        description: Option<String>,
    },
    /// `POST /api/v2/api_keys/marketplace` answered 409: the org already has this integration's key.
    #[error(
        "Datadog already holds an API key for this integration in this organisation (HTTP 409)"
    )]
    KeyExists,
    /// A REST API error (`{"errors":[…]}` or a non-JSON body).
    #[error("Datadog API error (HTTP {status}): {}", errors.join("; "))]
    Api { status: u16, errors: Vec<String> },
    #[error("unexpected response from Datadog: {0}")]
    Unexpected(String),
}

/// Tokens from the token endpoint.
#[derive(Debug)]
pub struct Tokens {
    pub access_token: SecretString,
    /// `None` when a refresh response did not rotate the refresh token.
    pub refresh_token: Option<SecretString>,
    pub expires_in_secs: i64,
}

/// The key returned once by `POST /api/v2/api_keys/marketplace`.
#[derive(Debug)]
pub struct CreatedKey {
    pub key: SecretString,
    pub id: String,
    pub last4: String,
}

/// A started authorisation: where to send the browser and the secrets to keep server-side.
#[derive(Debug)]
pub struct Authorization {
    pub url: url::Url,
    pub state: SecretString,
    pub pkce_verifier: SecretString,
}

/// Registered OAuth client identity of this integration.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: SecretString,
    pub redirect_uri: url::Url,
    pub scopes: Vec<String>,
}

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// Datadog OAuth + API client.
#[derive(Debug, Clone)]
pub struct Datadog {
    outbound: Outbound,
    credentials: Arc<ClientCredentials>,
}

impl Datadog {
    pub fn new(outbound: Outbound, credentials: ClientCredentials) -> Self {
        Self {
            outbound,
            credentials: Arc::new(credentials),
        }
    }

    pub fn outbound(&self) -> &Outbound {
        &self.outbound
    }

    /// `https://api.<domain>` (`http://` for the emulator sandbox).
    pub fn api_base(site: &Site) -> String {
        let scheme = if site.is_sandbox() { "http" } else { "https" };
        format!("{scheme}://{}", site.api_host().as_str())
    }

    fn client(&self, authorize_origin: &str, site: &Site) -> Result<Client, DatadogError> {
        let api = Self::api_base(site);
        let bad = |what: &str| DatadogError::Unexpected(format!("cannot build the {what} URL"));
        Ok(
            BasicClient::new(ClientId::new(self.credentials.client_id.clone()))
                .set_client_secret(ClientSecret::new(
                    self.credentials.client_secret.expose_secret().to_owned(),
                ))
                // Datadog expects client_secret_post.
                .set_auth_type(AuthType::RequestBody)
                .set_auth_uri(
                    AuthUrl::new(format!("{authorize_origin}{AUTHORIZE_PATH}"))
                        .map_err(|_| bad("authorize"))?,
                )
                .set_token_uri(
                    TokenUrl::new(format!("{api}/oauth2/v1/token")).map_err(|_| bad("token"))?,
                )
                .set_redirect_uri(RedirectUrl::from_url(self.credentials.redirect_uri.clone())),
        )
    }

    /// Builds the authorize URL (PKCE S256, random `state`) on the validated site origin.
    pub fn authorize(&self, onboarding: &Onboarding) -> Result<Authorization, DatadogError> {
        let client = self.client(onboarding.authorize_origin(), onboarding.site())?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(CsrfToken::new_random)
            .set_pkce_challenge(challenge);
        for scope in &self.credentials.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state) = request.url();
        Ok(Authorization {
            url,
            state: SecretString::from(state.secret().clone()),
            pkce_verifier: SecretString::from(verifier.secret().clone()),
        })
    }

    /// Exchanges an authorisation code at `api.<domain>`.
    pub async fn exchange_code(
        &self,
        site: &Site,
        code: &str,
        verifier: &SecretString,
    ) -> Result<Tokens, DatadogError> {
        let client = self.client("https://unused.invalid", site)?;
        let (http, status) = self.adapter();
        let result = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.expose_secret().to_owned()))
            .request_async(&http)
            .await;
        let response = result.map_err(|e| token_error(e, last_status(&status)))?;
        Ok(tokens_from(&response))
    }

    /// Refresh grant; Datadog may rotate the refresh token, so callers store any new one.
    pub async fn refresh(
        &self,
        site: &Site,
        refresh_token: &SecretString,
    ) -> Result<Tokens, DatadogError> {
        let client = self.client("https://unused.invalid", site)?;
        let (http, status) = self.adapter();
        let token = RefreshToken::new(refresh_token.expose_secret().to_owned());
        let result = client
            .exchange_refresh_token(&token)
            .request_async(&http)
            .await;
        let response = result.map_err(|e| token_error(e, last_status(&status)))?;
        Ok(tokens_from(&response))
    }

    /// RFC 7009 revocation of a refresh (or access) token. Built by hand rather than with the
    /// `oauth2` crate, which refuses non-HTTPS revocation URLs and so cannot reach the sandbox.
    pub async fn revoke(
        &self,
        site: &Site,
        token: &SecretString,
        is_refresh: bool,
    ) -> Result<(), DatadogError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token.expose_secret())
            .append_pair(
                "token_type_hint",
                if is_refresh {
                    "refresh_token"
                } else {
                    "access_token"
                },
            )
            .append_pair("client_id", &self.credentials.client_id)
            .append_pair(
                "client_secret",
                self.credentials.client_secret.expose_secret(),
            )
            .finish();
        let request = http::Request::post(format!("{}/oauth2/v1/revoke", Self::api_base(site)))
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json")
            .body(body.into_bytes())
            .map_err(|e| DatadogError::Unexpected(e.to_string()))?;
        let response = self.outbound.send(request).await?;
        match response.status().as_u16() {
            200 => Ok(()),
            status => Err(oauth_error_body(status, response.body())),
        }
    }

    /// `POST /api/v2/api_keys/marketplace` with the access token.
    pub async fn create_api_key(
        &self,
        site: &Site,
        access_token: &SecretString,
    ) -> Result<CreatedKey, DatadogError> {
        let request = http::Request::post(format!(
            "{}/api/v2/api_keys/marketplace",
            Self::api_base(site)
        ))
        .header(
            http::header::AUTHORIZATION,
            format!("Bearer {}", access_token.expose_secret()),
        )
        .header(http::header::ACCEPT, "application/json")
        .body(Vec::new())
        .map_err(|e| DatadogError::Unexpected(e.to_string()))?;
        let response = self.outbound.send(request).await?;
        match response.status().as_u16() {
            200 | 201 => parse_created_key(response.body()),
            409 => Err(DatadogError::KeyExists),
            status => Err(api_error(status, response.body())),
        }
    }

    /// `GET /api/v1/validate`: `Ok(false)` when Datadog says the key is not valid (403).
    pub async fn validate_key(
        &self,
        site: &Site,
        api_key: &SecretString,
    ) -> Result<bool, DatadogError> {
        let request = http::Request::get(format!("{}/api/v1/validate", Self::api_base(site)))
            .header("DD-API-KEY", api_key.expose_secret())
            .header(http::header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|e| DatadogError::Unexpected(e.to_string()))?;
        let response = self.outbound.send(request).await?;
        match response.status().as_u16() {
            200 => {
                #[derive(Deserialize)]
                struct Valid {
                    valid: bool,
                }
                serde_json::from_slice::<Valid>(response.body())
                    .map(|v| v.valid)
                    .map_err(|_| {
                        DatadogError::Unexpected("validate: body is not {\"valid\": …}".into())
                    })
            }
            401 | 403 => Ok(false),
            status => Err(api_error(status, response.body())),
        }
    }

    /// The oauth2-crate HTTP client: our guarded transport, recording the last status code
    /// (the crate drops it from error values, and 401 vs 400 changes the advice we give).
    #[allow(clippy::type_complexity)]
    fn adapter(
        &self,
    ) -> (
        impl Fn(
            HttpRequest,
        )
            -> std::pin::Pin<Box<dyn Future<Output = Result<HttpResponse, TransportError>> + Send>>,
        Arc<Mutex<Option<u16>>>,
    ) {
        let status = Arc::new(Mutex::new(None));
        let recorded = status.clone();
        let outbound = self.outbound.clone();
        let adapter = move |request: HttpRequest| {
            let outbound = outbound.clone();
            let recorded = recorded.clone();
            Box::pin(async move {
                let response = outbound.send(request).await?;
                if let Ok(mut slot) = recorded.lock() {
                    *slot = Some(response.status().as_u16());
                }
                Ok(response)
            })
                as std::pin::Pin<
                    Box<dyn Future<Output = Result<HttpResponse, TransportError>> + Send>,
                >
        };
        (adapter, status)
    }
}

fn last_status(status: &Mutex<Option<u16>>) -> Option<u16> {
    status.lock().ok().and_then(|s| *s)
}

fn tokens_from(response: &oauth2::basic::BasicTokenResponse) -> Tokens {
    Tokens {
        access_token: SecretString::from(response.access_token().secret().clone()),
        refresh_token: response
            .refresh_token()
            .map(|t| SecretString::from(t.secret().clone())),
        expires_in_secs: response
            .expires_in()
            .and_then(|d| i64::try_from(d.as_secs()).ok())
            .unwrap_or(DEFAULT_ACCESS_TTL_SECS),
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(DESCRIPTION_MAX).collect()
}

fn token_error<T: ErrorResponse + OAuthErrorFields>(
    error: RequestTokenError<TransportError, T>,
    status: Option<u16>,
) -> DatadogError {
    match error {
        RequestTokenError::ServerResponse(response) => DatadogError::OAuth {
            status,
            code: truncate(&response.code()),
            description: response.description().map(truncate),
        },
        RequestTokenError::Request(transport) => DatadogError::Transport(transport),
        // The body may contain tokens: report only where parsing failed.
        RequestTokenError::Parse(error, _body) => match status {
            Some(status) if status != 200 => DatadogError::Api {
                status,
                errors: Vec::new(),
            },
            _ => DatadogError::Unexpected(format!(
                "token response did not parse at `{}`",
                error.path()
            )),
        },
        RequestTokenError::Other(message) => match status {
            Some(status) if status != 200 => DatadogError::Api {
                status,
                errors: Vec::new(),
            },
            _ => DatadogError::Unexpected(truncate(&message)),
        },
    }
}

/// Uniform access to the `error` / `error_description` of the crate's error-response types.
trait OAuthErrorFields {
    fn code(&self) -> String;
    fn description(&self) -> Option<&str>;
}

impl OAuthErrorFields for BasicErrorResponse {
    fn code(&self) -> String {
        self.error().as_ref().to_owned()
    }
    fn description(&self) -> Option<&str> {
        self.error_description().map(String::as_str)
    }
}

/// An RFC 6749 error body (`{"error","error_description"}`), else a generic API error.
fn oauth_error_body(status: u16, body: &[u8]) -> DatadogError {
    #[derive(Deserialize)]
    struct OAuthError {
        error: String,
        error_description: Option<String>,
    }
    match serde_json::from_slice::<OAuthError>(body) {
        Ok(e) => DatadogError::OAuth {
            status: Some(status),
            code: truncate(&e.error),
            description: e.error_description.as_deref().map(truncate),
        },
        Err(_) => api_error(status, body),
    }
}

fn api_error(status: u16, body: &[u8]) -> DatadogError {
    #[derive(Deserialize)]
    struct Errors {
        errors: Vec<serde_json::Value>,
    }
    let errors = serde_json::from_slice::<Errors>(body)
        .map(|e| {
            e.errors
                .iter()
                .map(|v| truncate(&v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                .collect()
        })
        .unwrap_or_default();
    DatadogError::Api { status, errors }
}

fn parse_created_key(body: &[u8]) -> Result<CreatedKey, DatadogError> {
    #[derive(Deserialize)]
    struct Body {
        data: Data,
    }
    #[derive(Deserialize)]
    struct Data {
        id: String,
        attributes: Attributes,
    }
    #[derive(Deserialize)]
    struct Attributes {
        key: String,
        last4: Option<String>,
    }
    let body: Body = serde_json::from_slice(body).map_err(|_| {
        DatadogError::Unexpected("api_keys/marketplace: body is not a JSON:API key".into())
    })?;
    let key = body.data.attributes.key;
    if key.len() < 4 {
        return Err(DatadogError::Unexpected(
            "api_keys/marketplace: key too short".into(),
        ));
    }
    let last4 = body.data.attributes.last4.unwrap_or_else(|| {
        key.chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect()
    });
    Ok(CreatedKey {
        key: SecretString::from(key),
        id: body.data.id,
        last4,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_keep_datadog_messages_and_tolerate_non_json() {
        match api_error(403, br#"{"errors":["Forbidden"]}"#) {
            DatadogError::Api { status, errors } => {
                assert_eq!(status, 403);
                assert_eq!(errors, vec!["Forbidden".to_owned()]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            api_error(502, b"<html>bad gateway</html>"),
            DatadogError::Api { status: 502, ref errors } if errors.is_empty()
        ));
    }

    #[test]
    fn created_key_is_parsed_and_debug_redacts_it() {
        let body = br#"{"data":{"type":"api_keys","id":"k-1","attributes":{"key":"0123456789abcdef0123456789abcdef","name":"x"}}}"#;
        let key = parse_created_key(body).unwrap();
        assert_eq!(key.last4, "cdef");
        assert_eq!(key.id, "k-1");
        assert!(!format!("{key:?}").contains("0123456789abcdef"));
        assert!(parse_created_key(b"{}").is_err());
    }
}
