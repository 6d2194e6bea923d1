//! The label scheme of every object tiered builds for a TieredApp, the immutable
//! selector of a tier's pods, and the selector that finds an app's children for pruning.
//!
//! Scheme (Kubernetes recommended labels, read with a three-tier app in mind):
//!
//! | label                          | value        | why                                         |
//! | ------------------------------ | ------------ | ------------------------------------------- |
//! | `app.kubernetes.io/name`       | `<tier>`     | what the workload is (`web`, `api`)         |
//! | `app.kubernetes.io/instance`   | `<app>`      | which TieredApp; unique in its namespace    |
//! | `app.kubernetes.io/component`  | `<role>`     | `presentation`, `application` or `worker`   |
//! | `app.kubernetes.io/part-of`    | `<app>`      | the higher-level application                |
//! | `app.kubernetes.io/managed-by` | `tiered`     | who applies it                              |
//!
//! The pod selector of a tier uses only labels that cannot change while the tier exists
//! (`managed-by`, `instance`, `name`): a Deployment's selector is immutable, so the role
//! (`component`) stays out of it and can be edited freely.
//!
//! Values made from names go through [`label_value`]: the same text for every name
//! validation accepts (DNS labels of at most 63 characters), a valid hashed value for any
//! other, so no label tiered writes can make the API server refuse an object.
//!
//! Pruning lists the kinds a TieredApp owns with [`prune_selector`] (`managed-by=tiered`
//! and `instance=<app>`). A TieredApp's name is unique among TieredApps of a namespace,
//! but other tiered kinds (a ManagedDatabase of the same name) use the same label keys on
//! their own children (Secrets), so the reconcile loop must also check that the object's
//! controller ownerReference carries this TieredApp's uid before deleting it.

use std::collections::BTreeMap;

use crate::api::tiered_app::TierRole;
use crate::controllers::tiered_app::build::naming::label_value;

/// `app.kubernetes.io/name`: the tier's name.
pub const NAME: &str = "app.kubernetes.io/name";
/// `app.kubernetes.io/instance`: the TieredApp's name.
pub const INSTANCE: &str = "app.kubernetes.io/instance";
/// `app.kubernetes.io/component`: the tier's role.
pub const COMPONENT: &str = "app.kubernetes.io/component";
/// `app.kubernetes.io/part-of`: the TieredApp's name.
pub const PART_OF: &str = "app.kubernetes.io/part-of";
/// `app.kubernetes.io/managed-by`: always [`MANAGED_BY_VALUE`].
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Value of `app.kubernetes.io/managed-by` on everything tiered applies.
pub const MANAGED_BY_VALUE: &str = "tiered";

/// The wire value of a tier role, as used in the `component` label.
pub fn role_label_value(role: TierRole) -> &'static str {
    match role {
        TierRole::Presentation => "presentation",
        TierRole::Application => "application",
        TierRole::Worker => "worker",
    }
}

/// All labels of a tier's objects (and of its pods).
pub fn tier_labels(app: &str, tier: &str, role: TierRole) -> BTreeMap<String, String> {
    let mut labels = tier_selector_labels(app, tier);
    labels.insert(COMPONENT.to_owned(), role_label_value(role).to_owned());
    labels.insert(PART_OF.to_owned(), label_value(app));
    labels
}

/// The immutable-safe pod selector of a tier: only labels that never change while the
/// tier exists.
pub fn tier_selector_labels(app: &str, tier: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY.to_owned(), MANAGED_BY_VALUE.to_owned()),
        (INSTANCE.to_owned(), label_value(app)),
        (NAME.to_owned(), label_value(tier)),
    ])
}

/// Labels every child of the app carries, for a list call before pruning.
pub fn prune_labels(app: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY.to_owned(), MANAGED_BY_VALUE.to_owned()),
        (INSTANCE.to_owned(), label_value(app)),
    ])
}

/// Label selector of everything tiered manages (what the child reflectors watch).
pub fn managed_selector() -> String {
    format!("{MANAGED_BY}={MANAGED_BY_VALUE}")
}

/// [`prune_labels`] as a label selector string, e.g.
/// `app.kubernetes.io/instance=newsread,app.kubernetes.io/managed-by=tiered`.
pub fn prune_selector(app: &str) -> String {
    prune_labels(app)
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_labels_are_a_subset_of_tier_labels() {
        let all = tier_labels("newsread", "web", TierRole::Presentation);
        for (key, value) in tier_selector_labels("newsread", "web") {
            assert_eq!(all.get(&key), Some(&value), "{key}");
        }
        assert!(!tier_selector_labels("newsread", "web").contains_key(COMPONENT));
    }

    #[test]
    fn prune_selector_names_managed_by_and_instance() {
        assert_eq!(
            prune_selector("newsread"),
            "app.kubernetes.io/instance=newsread,app.kubernetes.io/managed-by=tiered"
        );
    }

    #[test]
    fn prune_labels_are_a_subset_of_tier_labels() {
        let all = tier_labels("shop", "api", TierRole::Application);
        for (key, value) in prune_labels("shop") {
            assert_eq!(all.get(&key), Some(&value));
        }
    }
}
