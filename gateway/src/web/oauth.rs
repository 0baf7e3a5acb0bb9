//! The onboarding URL (`GET /oauth/onboard`) and the redirect URI (`GET /oauth/callback`).

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use ddlink_core::site::{Onboarding, SandboxPolicy, Site};
use http::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::WebError;
use super::advice::{self, Problem};
use super::pages;
use super::session::current_session;
use crate::config::SitePolicy;
use crate::connections::{OrgInfo, Saved};
use crate::crypto::{SealContext, hash_token};
use crate::datadog::DatadogError;
use crate::state::AppState;
use crate::store::PendingAuthorization;

#[derive(Debug, Deserialize)]
pub struct OnboardParams {
    site: Option<String>,
    domain: Option<String>,
}

fn sandbox_policy(policy: &SitePolicy) -> SandboxPolicy {
    if policy.is_sandbox() {
        SandboxPolicy::Allow
    } else {
        SandboxPolicy::Deny
    }
}

fn problem_response(state: &AppState, problem: &Problem) -> Response {
    state.metrics.error(problem.kind);
    state.metrics.handshake("failed");
    (
        problem.status,
        axum::response::Html(pages::problem(problem).into_string()),
    )
        .into_response()
}

/// Validates `site`/`domain`, requires an admin session, stores `state` + PKCE verifier, and
/// redirects to Datadog's authorize endpoint on the site's host.
pub async fn onboard(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<OnboardParams>,
) -> Result<Response, WebError> {
    let Some(domain) = params.domain.as_deref().filter(|d| !d.is_empty()) else {
        let note = params
            .site
            .is_some()
            .then_some("The link from Datadog was missing its `domain` parameter.");
        return Ok(axum::response::Html(
            pages::start_from_tile(&state.tile_links(), note).into_string(),
        )
        .into_response());
    };
    let onboarding = match Onboarding::parse(
        params.site.as_deref(),
        domain,
        sandbox_policy(&state.config.sites),
    ) {
        Ok(o) if state.config.sites.allows(o.site()) => o,
        Ok(_) => {
            return Ok(problem_response(
                &state,
                &advice::bad_onboarding_parameters("this domain is not enabled on this gateway"),
            ));
        }
        Err(e) => {
            return Ok(problem_response(
                &state,
                &advice::bad_onboarding_parameters(e.as_str()),
            ));
        }
    };
    let Some(session) = current_session(&state, &headers).await? else {
        // The onboarding page is the gateway's sign-in page: come back here after login.
        let mut next = url::form_urlencoded::Serializer::new(String::new());
        next.append_pair("domain", domain);
        if let Some(site) = &params.site {
            next.append_pair("site", site);
        }
        let login = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("next", &format!("/oauth/onboard?{}", next.finish()))
            .finish();
        return Ok(Redirect::to(&format!("/login?{login}")).into_response());
    };

    let authorization = state.datadog.authorize(&onboarding)?;
    let state_hash = hash_token(authorization.state.expose_secret());
    let now = state.clock.now();
    let sealed_verifier = state.keys.seal_str(
        &SealContext::new("oauth_states", "pkce_verifier", &state_hash),
        &authorization.pkce_verifier,
    )?;
    let ttl = i64::try_from(state.config.timings.state_ttl.as_secs()).unwrap_or(600);
    state
        .store
        .put_pending_authorization(&PendingAuthorization {
            state_hash,
            sealed_verifier,
            site: onboarding.authorize_origin().to_owned(),
            domain: onboarding.site().domain().to_owned(),
            session_hash: session.hash().to_owned(),
            created_at: now,
            expires_at: now.saturating_add(ttl),
        })
        .await?;
    state.metrics.handshake("started");
    tracing::info!(
        domain = onboarding.site().domain(),
        "OAuth authorisation started"
    );
    Ok(Redirect::to(authorization.url.as_str()).into_response())
}

#[derive(Debug, Deserialize)]
pub struct CallbackParams {
    code: Option<SecretString>,
    state: Option<SecretString>,
    domain: Option<String>,
    dd_oid: Option<String>,
    dd_org_name: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Finishes the flow: single-use state, same session, same domain (checked before any outbound
/// request), code exchange, API-key creation, encrypted persistence, then the answer.
pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<CallbackParams>,
) -> Result<Response, WebError> {
    let Some(state_param) = params
        .state
        .as_ref()
        .filter(|s| !s.expose_secret().is_empty())
    else {
        return Ok(problem_response(&state, &advice::state_missing()));
    };
    let state_hash = hash_token(state_param.expose_secret());
    let Some(pending) = state
        .store
        .take_pending_authorization(&state_hash, state.clock.now())
        .await?
    else {
        return Ok(problem_response(&state, &advice::state_unknown()));
    };
    let session = current_session(&state, &headers).await?;
    let Some(session) = session.filter(|s| s.hash() == pending.session_hash) else {
        return Ok(problem_response(&state, &advice::session_mismatch()));
    };
    // The connection will belong to the signed-in user's tenant.
    let tenant = session.user().tenant.clone();
    let redirect_uri = state.config.redirect_uri().to_string();
    if let Some(error) = &params.error {
        return Ok(problem_response(
            &state,
            &advice::callback_error(error, params.error_description.as_deref(), &redirect_uri),
        ));
    }
    // The client secret and code may only go to the domain the flow started on.
    let same_domain = params
        .domain
        .as_deref()
        .is_some_and(|d| d.eq_ignore_ascii_case(&pending.domain));
    if !same_domain {
        tracing::warn!(expected = %pending.domain, "OAuth callback named another domain; refused");
        return Ok(problem_response(&state, &advice::domain_mismatch()));
    }
    let Some(code) = params
        .code
        .as_ref()
        .filter(|c| !c.expose_secret().is_empty())
    else {
        return Ok(problem_response(&state, &advice::code_missing()));
    };
    let site = match Onboarding::parse(None, &pending.domain, sandbox_policy(&state.config.sites)) {
        Ok(o) if state.config.sites.allows(o.site()) => *o.site(),
        _ => return Ok(problem_response(&state, &advice::domain_mismatch())),
    };
    let org = OrgInfo {
        org_id: params.dd_oid.clone(),
        org_name: params
            .dd_org_name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "Datadog organisation".to_owned()),
    };
    // Before any token or key exists: an organisation connected to another tenant stays
    // theirs, and no second API key is created for it.
    if state
        .connections
        .owner(&org, &site)
        .await?
        .is_some_and(|owner| owner != tenant)
    {
        tracing::warn!(domain = site.domain(), %tenant, "organisation already connected to another tenant; refused");
        return Ok(problem_response(&state, &advice::org_of_another_tenant()));
    }
    let verifier = state.keys.open_string(
        &SealContext::new("oauth_states", "pkce_verifier", &pending.state_hash),
        &pending.sealed_verifier,
    )?;

    let fail = |error: &DatadogError| {
        tracing::warn!(%error, domain = site.domain(), "OAuth handshake failed");
        problem_response(
            &state,
            &advice::datadog_error(
                error,
                site.api_host().as_str(),
                site.app_host().as_str(),
                &redirect_uri,
            ),
        )
    };
    let tokens = match state
        .datadog
        .exchange_code(&site, code.expose_secret(), &verifier)
        .await
    {
        Ok(tokens) => tokens,
        Err(error) => return Ok(fail(&error)),
    };
    let created = match state
        .datadog
        .create_api_key(&site, &tokens.access_token)
        .await
    {
        Ok(key) => Some(key),
        Err(DatadogError::KeyExists) => None,
        Err(error) => {
            revoke_quietly(&state, &site, &tokens.refresh_token).await;
            return Ok(fail(&error));
        }
    };
    let saved = state
        .connections
        .save_authorized(
            &tenant,
            &org,
            &site,
            &pending.site,
            &tokens,
            created.as_ref(),
        )
        .await?;
    let record = match saved {
        Saved::Stored(record) => record,
        Saved::NoKey => {
            // 409 and no key of ours for this org: the tokens are useless without it.
            revoke_quietly(&state, &site, &tokens.refresh_token).await;
            return Ok(fail(&DatadogError::KeyExists));
        }
        Saved::OtherTenant => {
            // Another tenant connected the organisation while this flow ran.
            revoke_quietly(&state, &site, &tokens.refresh_token).await;
            return Ok(problem_response(&state, &advice::org_of_another_tenant()));
        }
    };
    let now = state.clock.now();
    let message = format!("{} on {}", record.org_name, record.domain);
    state
        .store
        .record_event(&tenant, now, "connected", &message)
        .await?;
    state.metrics.handshake("completed");
    tracing::info!(domain = %record.domain, connection = %record.id, "connected to Datadog");
    let last4 = record.api_key_last4.as_deref().unwrap_or("????");
    Ok(axum::response::Html(
        pages::connected(&record.org_name, &record.domain, last4, created.is_none()).into_string(),
    )
    .into_response())
}

/// Best-effort revocation of tokens the gateway will not keep.
async fn revoke_quietly(state: &AppState, site: &Site, refresh_token: &Option<SecretString>) {
    if let Some(token) = refresh_token
        && let Err(error) = state.datadog.revoke(site, token, true).await
    {
        state.metrics.error("revoke");
        tracing::warn!(%error, "could not revoke unused tokens");
    }
}
