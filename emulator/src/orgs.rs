//! The organisations of one emulator: configured at start or added at run time. Each org's
//! web app lives on its own host, so a browser on an org's tile authorises as that org.

use std::fmt;

use crate::config::OrgConfig;
use crate::hosts;

/// Why an org cannot be added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrgError {
    /// The org itself is malformed (the message says why).
    Invalid(String),
    /// Its id or subdomain is already taken by another org.
    Conflict(String),
}

impl fmt::Display for OrgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(why) | Self::Conflict(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for OrgError {}

#[derive(Debug)]
pub(crate) struct OrgDirectory {
    /// Never empty: the first org is the default one.
    orgs: Vec<OrgConfig>,
}

impl OrgDirectory {
    /// The configured orgs, checked as [`OrgDirectory::add`] checks each.
    pub(crate) fn new(orgs: Vec<OrgConfig>) -> Result<Self, OrgError> {
        let mut iter = orgs.into_iter();
        let first = iter
            .next()
            .ok_or_else(|| OrgError::Invalid("at least one org is needed".into()))?;
        let mut directory = Self { orgs: Vec::new() };
        directory.check(&first, true)?;
        directory.orgs.push(first);
        for org in iter {
            directory.add(org)?;
        }
        Ok(directory)
    }

    /// Adds a further org; it needs a subdomain of its own.
    pub(crate) fn add(&mut self, org: OrgConfig) -> Result<(), OrgError> {
        self.check(&org, false)?;
        self.orgs.push(org);
        Ok(())
    }

    fn check(&self, org: &OrgConfig, is_first: bool) -> Result<(), OrgError> {
        if org.name.trim().is_empty() || org.id.trim().is_empty() || org.user_id.trim().is_empty() {
            return Err(OrgError::Invalid(
                "an org needs a name, an id and a user id".into(),
            ));
        }
        match org.subdomain.as_deref() {
            None if !is_first => {
                return Err(OrgError::Invalid(format!(
                    "org {} needs a subdomain: only the first org answers on app.",
                    org.id
                )));
            }
            Some(label)
                if !hosts::is_dns_label(label)
                    || label != label.to_ascii_lowercase()
                    || label == hosts::APP
                    || label == hosts::API =>
            {
                return Err(OrgError::Invalid(format!(
                    "subdomain {label:?} must be a lowercase DNS label other than app and api"
                )));
            }
            _ => {}
        }
        if self.orgs.iter().any(|o| o.id == org.id) {
            return Err(OrgError::Conflict(format!("org id {} is taken", org.id)));
        }
        if let Some(label) = &org.subdomain
            && self
                .orgs
                .iter()
                .any(|o| o.subdomain.as_ref() == Some(label))
        {
            return Err(OrgError::Conflict(format!("subdomain {label} is taken")));
        }
        Ok(())
    }

    /// `org-<n>` for the lowest `n ≥ 2` no org uses.
    pub(crate) fn free_subdomain(&self) -> String {
        (2..)
            .map(|n| format!("org-{n}"))
            .find(|label| {
                !self
                    .orgs
                    .iter()
                    .any(|o| o.subdomain.as_ref() == Some(label))
            })
            .unwrap_or_default()
    }

    pub(crate) fn first(&self) -> &OrgConfig {
        &self.orgs[0]
    }

    pub(crate) fn get(&self, id: &str) -> Option<&OrgConfig> {
        self.orgs.iter().find(|o| o.id == id)
    }

    /// The org whose web app a host serves: the one claiming the custom subdomain, else the
    /// first (on `app.` and unclaimed subdomains).
    pub(crate) fn for_app_host(&self, kind: &hosts::HostKind) -> &OrgConfig {
        let claimed = match kind {
            hosts::HostKind::CustomApp(label) => self
                .orgs
                .iter()
                .find(|o| o.subdomain.as_ref() == Some(label)),
            _ => None,
        };
        claimed.unwrap_or_else(|| self.first())
    }

    pub(crate) fn list(&self) -> Vec<OrgConfig> {
        self.orgs.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hosts::HostKind;

    #[test]
    fn further_orgs_need_a_free_valid_subdomain() {
        let mut orgs = OrgDirectory::new(vec![OrgConfig::default()]).unwrap();
        let mut nameless = OrgConfig::new("B", "b");
        nameless.subdomain = None;
        assert!(matches!(orgs.add(nameless), Err(OrgError::Invalid(_))));
        for label in ["app", "api", "Upper", "-x", "a.b", ""] {
            let org = OrgConfig::new("B", label);
            assert!(
                matches!(orgs.add(org), Err(OrgError::Invalid(_))),
                "{label}"
            );
        }
        let b = OrgConfig::new("B", "b");
        orgs.add(b.clone()).unwrap();
        assert!(matches!(
            orgs.add(OrgConfig::new("C", "b")),
            Err(OrgError::Conflict(_))
        ));
        let mut same_id = OrgConfig::new("C", "c");
        same_id.id = b.id.clone();
        assert!(matches!(orgs.add(same_id), Err(OrgError::Conflict(_))));
        assert!(OrgDirectory::new(Vec::new()).is_err());
        assert_eq!(orgs.free_subdomain(), "org-2");
    }

    #[test]
    fn hosts_pick_their_org() {
        let b = OrgConfig::new("B", "b");
        let orgs = OrgDirectory::new(vec![OrgConfig::default(), b.clone()]).unwrap();
        let first = OrgConfig::default();
        assert_eq!(orgs.for_app_host(&HostKind::App), &first);
        assert_eq!(orgs.for_app_host(&HostKind::CustomApp("b".into())), &b);
        assert_eq!(
            orgs.for_app_host(&HostKind::CustomApp("acme".into())),
            &first
        );
    }
}
