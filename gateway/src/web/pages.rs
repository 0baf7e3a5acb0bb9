//! Server-rendered HTML (maud escapes every interpolated value). Small, phone-friendly pages.

use ddlink_core::site::Region;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::advice::Problem;
use crate::config::{Config, SitePolicy};
use crate::connections::ConnectionStatus;
use crate::store::tenant::{TenantHealth, User};
use crate::store::{ConnectionState, GatewayEvent};

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:52rem;margin:0 auto;padding:1rem;line-height:1.45}\
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.35rem;text-align:left;vertical-align:top}\
.warn{background:#fff4e5;border-left:4px solid #f59f00;padding:.6rem}.ok{background:#ebfbee;border-left:4px solid #2f9e44;padding:.6rem}\
.err{background:#fff5f5;border-left:4px solid #e03131;padding:.6rem}code{word-break:break-all}\
form.inline{display:inline}button{padding:.4rem .8rem}input{padding:.4rem;max-width:100%}\
@media(max-width:40rem){td,th{display:block}}";

pub fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · ddlink gateway" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { (title) }
                (body)
            }
        }
    }
}

/// Tile links to show when the onboarding URL is opened without `site`/`domain`.
#[derive(Debug, Clone)]
pub struct TileLink {
    pub label: String,
    pub url: String,
}

/// Links to the Datadog integration tile shown when onboarding starts outside Datadog.
pub fn tile_links(config: &Config) -> Vec<TileLink> {
    match (&config.tile_url, &config.sites) {
        (Some(url), _) => vec![TileLink {
            label: "Integration tile".to_owned(),
            url: url.to_string(),
        }],
        (None, SitePolicy::Datadog(regions)) => tile_links_for(regions),
        (None, SitePolicy::Sandbox(_)) => Vec::new(),
    }
}

fn tile_links_for(regions: &[Region]) -> Vec<TileLink> {
    regions
        .iter()
        .map(|r| TileLink {
            label: format!("{} ({})", r.name(), r.domain()),
            url: format!("https://{}/integrations", r.app_host()),
        })
        .collect()
}

pub fn start_from_tile(links: &[TileLink], note: Option<&str>) -> Markup {
    layout(
        "Connect from Datadog",
        html! {
            @if let Some(note) = note { p.warn { (note) } }
            p { "Connecting this gateway to Datadog starts from the integration tile inside Datadog, \
                 so Datadog can tell the gateway which site your organisation is on." }
            ol {
                li { "Open the Integrations page of your Datadog site (links below)." }
                li { "Find this integration's tile and open its " b { "Configure" } " tab." }
                li { "Click " b { "Connect Accounts" } ", sign in to this gateway, then click " b { "Authorize" } " in Datadog." }
            }
            ul {
                @for link in links {
                    li { a href=(link.url) { (link.label) } }
                }
            }
        },
    )
}

pub fn problem(problem: &Problem) -> Markup {
    layout(
        &problem.title,
        html! {
            div.err { p { (problem.what_happened) } }
            @if let Some(said) = &problem.datadog_said {
                p { "Datadog said: " code { (said) } }
            }
            @if !problem.what_to_do.is_empty() {
                h2 { "What to do" }
                ol { @for step in &problem.what_to_do { li { (step) } } }
            }
            p { a href="/" { "Back to the gateway" } }
        },
    )
}

pub fn connected(org_name: &str, domain: &str, last4: &str, kept_existing_key: bool) -> Markup {
    layout(
        "Connected to Datadog",
        html! {
            div.ok {
                p { "The gateway is connected to " b { (org_name) } " on " code { (domain) } "." }
                @if kept_existing_key {
                    p { "Datadog already had this integration's API key for your organisation; the gateway \
                         kept the key it stored earlier (ending in " code { (last4) } ")." }
                } @else {
                    p { "An API key ending in " code { (last4) } " was created and stored encrypted." }
                }
            }
            p { b { "You may now close this tab." } }
            p { a href="/" { "Open the gateway admin page" } }
        },
    )
}

pub fn login(next: &str, error: Option<&str>) -> Markup {
    layout(
        "Sign in",
        html! {
            @if let Some(error) = error { p.err { (error) } }
            form method="post" action="/login" {
                input type="hidden" name="next" value=(next);
                p {
                    label for="user" { "User name" } br;
                    input id="user" type="text" name="user" autocomplete="username" autocapitalize="none";
                    br; small { "Leave empty to sign in with the gateway's admin token." }
                }
                p {
                    label for="password" { "Password or admin token" } br;
                    input id="password" type="password" name="password" autocomplete="current-password" required autofocus;
                }
                p { button type="submit" { "Sign in" } }
            }
        },
    )
}

/// Everything the admin index shows.
#[derive(Debug)]
pub struct AdminView<'a> {
    pub user: &'a User,
    /// Every tenant's health, for the operator only.
    pub tenants: Option<&'a [TenantHealth]>,
    pub csrf: &'a str,
    pub connections: &'a [ConnectionStatus],
    pub events: &'a [GatewayEvent],
    pub onboarding_url: &'a str,
    pub redirect_uri: &'a str,
    pub now: i64,
    /// Device provisioning's section: fleets and devices.
    pub devices: Markup,
}

fn when(at: i64, now: i64) -> String {
    let delta = at - now;
    let (abs, suffix) = if delta >= 0 {
        (delta, "from now")
    } else {
        (-delta, "ago")
    };
    let text = match abs {
        0..=119 => format!("{abs} s"),
        120..=7199 => format!("{} min", abs / 60),
        _ => format!("{} h", abs / 3600),
    };
    format!("{text} {suffix}")
}

/// The operator's overview: every tenant's connections, fleets, devices and last problem.
fn tenant_health(tenants: &[TenantHealth], now: i64) -> Markup {
    html! {
        h2 { "Tenants" }
        table id="tenants" {
            tr { th { "Tenant" } th { "Connections" } th { "Fleets" } th { "Devices" } th { "Last problem" } }
            @for t in tenants {
                tr data-tenant=(t.tenant) {
                    td { code { (t.tenant) } }
                    td {
                        @if t.connections.is_empty() { "none" }
                        @for c in &t.connections {
                            (c.org_name) " (" code { (c.domain) } "): " (c.state.as_str())
                            @if c.key_valid == Some(false) { ", key rejected" }
                            br;
                        }
                    }
                    td { (t.fleets) }
                    td { (t.devices) }
                    td {
                        @if let Some(problem) = &t.last_problem {
                            small { (when(problem.at, now)) } " · " b { (problem.kind.as_str()) } " · " (problem.message)
                        } @else { "—" }
                    }
                }
            }
        }
        p { small { "Create a tenant and its first admin's invite link with " code { "ddlink-gateway tenant create NAME" } "." } }
    }
}

pub fn admin(view: &AdminView<'_>) -> Markup {
    layout(
        "ddlink gateway",
        html! {
            p {
                "Signed in as " b { (view.user.name) } " · tenant " code { (view.user.tenant) } " "
                form.inline method="post" action="/logout" {
                    input type="hidden" name="csrf" value=(view.csrf);
                    button type="submit" { "Sign out" }
                }
            }
            h2 { "Datadog connection" }
            @if view.connections.is_empty() {
                p.warn { "Not connected. Connect from the integration tile in Datadog (Configure → Connect Accounts)." }
            } @else {
                table id="connections" {
                    tr { th { "Organisation" } th { "Site" } th { "API key" } th { "Access token" } th { "State" } th {} }
                    @for c in view.connections {
                        tr data-state=(c.state.as_str()) {
                            td { (c.org_name) }
                            td { code { (c.domain) } br; small { (c.site) } }
                            td {
                                @if let Some(last4) = &c.api_key_last4 { "…" code { (last4) } }
                                @match c.key_valid {
                                    Some(false) => { br; span.err { "rejected by Datadog" } }
                                    Some(true) => { br; small { "valid" } }
                                    None => {}
                                }
                            }
                            td { @if c.state == ConnectionState::Active { "expires " (when(c.token_expires_at, view.now)) } }
                            td {
                                @match c.state {
                                    ConnectionState::Uninstalled => {
                                        span.warn { "uninstalled" } br;
                                        small { "Datadog refused the refresh token: the integration was uninstalled or its access revoked. Devices get no key. Fix: reconnect from the Datadog tile (Connect Accounts)." }
                                    }
                                    ConnectionState::KeyRevoked => {
                                        span.err { "key revoked" } br;
                                        small { "Datadog rejects the stored API key: it was revoked on Datadog's API Keys page. Devices get no key. Fix: reconnect from the Datadog tile to create a new key. If Datadog answers that a key already exists, revoke \"OAuth Client API Key\" on Datadog's API Keys page first, then reconnect." }
                                    }
                                    other => { (other.as_str()) }
                                }
                            }
                            td {
                                @if c.state != ConnectionState::Disconnected {
                                    form.inline method="post" action={ "/connections/" (c.id) "/disconnect" } {
                                        input type="hidden" name="csrf" value=(view.csrf);
                                        button type="submit" { "Disconnect" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            (view.devices)
            h2 { "Admins" }
            form.inline method="post" action="/invites" {
                input type="hidden" name="csrf" value=(view.csrf);
                button type="submit" { "Invite another admin of this tenant" }
            }
            @if let Some(tenants) = view.tenants { (tenant_health(tenants, view.now)) }
            h2 { "Recent events" }
            @if view.events.is_empty() { p { "None yet." } } @else {
                ul { @for e in view.events { li { small { (when(e.at, view.now)) } " · " b { (e.kind.as_str()) } " · " (e.message) } } }
            }
            h2 { "Developer Platform settings" }
            p { "Onboarding URL: " code { (view.onboarding_url) } br; "Redirect URI: " code { (view.redirect_uri) } }
        },
    )
}
