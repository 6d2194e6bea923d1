//! The desired children of a TieredApp as the controller consumes them: a thin adapter
//! over the pure builders in [`crate::controllers::tiered_app::build`] (validation, `desired_children`,
//! label scheme), plus what the controller needs to know per tier.

use crate::api::tiered_app::TieredApp;
pub use crate::controllers::tiered_app::build::DesiredChildren as ChildSet;
use crate::controllers::tiered_app::build::labels::{MANAGED_BY, MANAGED_BY_VALUE};
pub use crate::controllers::tiered_app::build::labels::{NAME as LABEL_TIER, prune_labels};
use crate::controllers::tiered_app::build::{SpecError, ValidatedApp, validate};

/// Label selector of everything tiered manages (what the child reflectors watch).
pub fn managed_selector() -> String {
    format!("{MANAGED_BY}={MANAGED_BY_VALUE}")
}

/// What one tier depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierDependencies {
    /// Tier name.
    pub tier: String,
    /// Name of the Deployment of the tier.
    pub deployment: String,
    /// Referenced ManagedDatabase.
    pub database: Option<String>,
    /// Referenced CacheCluster.
    pub cache: Option<String>,
}

/// A validated app and what the controller needs from it.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The validated app (input of `desired_children`).
    pub app: ValidatedApp,
    /// Per tier, in spec order.
    pub tiers: Vec<TierDependencies>,
    /// Whether the presentation ingress has a certificate (for the URL scheme).
    pub https: bool,
}

/// Validates `app`; the errors carry field paths like `spec.tiers[1].calls[0]`.
pub fn plan(app: &TieredApp) -> Result<Plan, Vec<SpecError>> {
    let app = validate(app)?;
    let tiers = app
        .tiers
        .iter()
        .map(|t| TierDependencies {
            tier: t.name.clone(),
            deployment: t.child_name.clone(),
            database: t.database.clone(),
            cache: t.cache.clone(),
        })
        .collect();
    let https = app.tiers.iter().any(|t| {
        t.ingress
            .as_ref()
            .is_some_and(|i| i.certificate_arn.is_some())
    });
    Ok(Plan { app, tiers, https })
}
