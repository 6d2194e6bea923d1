//! Restoring is safe by default, like adoption (DESIGN.md "Adoption is opt-in on both
//! sides"): the source of a restore (`spec.restoreFrom`: a DB or ElastiCache snapshot,
//! or the instance of a point-in-time restore) must be this tenant's, or carry an
//! administrator's opt-in tag naming the one object that may restore it. Otherwise
//! anyone able to create a ManagedDatabase could read another team's data out of any
//! snapshot the operator's role can see, including an untagged one in the same account.
//!
//! The tenant is the namespace: a source tagged `tiered.io/cluster` = this cluster and
//! `tiered.io/namespace` = the object's namespace was made by tiered for an object of
//! that namespace (a snapshot `spec.snapshots` or a final snapshot took, which copy the
//! instance's tags; or that namespace's own instance). Anything else needs
//! `tiered.io/restorable = <namespace>/<name>`, set by whoever administers the AWS
//! account (tiered never writes that tag, and `spec.tags` cannot name `tiered.io/` keys).
//! Pure: the verdict from the source's tags; a refusal never names another tenant.

use crate::aws::tags::{CLUSTER, NAMESPACE, Owner, tag_values};

/// Tag key an administrator sets on a snapshot or DB instance to allow one object to
/// restore it; the value is `<namespace>/<name>` of that object.
pub const RESTORABLE: &str = "tiered.io/restorable";

/// Why a restore source is refused. Messages name the spec field and what to do, and
/// never the source's owner.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RestoreRefused {
    /// The source does not exist (or the operator cannot see it) in the object's region.
    #[error(
        "waiting for {field}: {source_name} does not exist in this object's region (yet: a snapshot being taken, an instance being created), or the operator's role cannot read it; if it does not appear, check the name (the AWS identifier, e.g. a ManagedDatabase's status.identifier, not its name) and the region"
    )]
    NotFound {
        /// The spec field naming the source (`spec.restoreFrom.dbSnapshotIdentifier`).
        field: &'static str,
        /// The source as messages name it (`DB snapshot nightly-1`).
        source_name: String,
    },
    /// The source is not this namespace's and carries no opt-in for this object.
    #[error(
        "failed to accept {field}: {source_name} was not made by tiered for namespace {namespace} of this cluster, so restoring it could expose another team's data; if this object may have it, an administrator of the AWS account must tag it {RESTORABLE}={expected}"
    )]
    NotOptedIn {
        /// The spec field naming the source.
        field: &'static str,
        /// The source as messages name it.
        source_name: String,
        /// The object's namespace.
        namespace: String,
        /// The tag value that would allow this object.
        expected: String,
    },
    /// The opt-in tag names another object (which one is not said).
    #[error(
        "failed to accept {field}: the {RESTORABLE} tag of {source_name} allows another object to restore it, not {expected}; ask the AWS account's administrator to change the tag"
    )]
    OptedInForAnother {
        /// The spec field naming the source.
        field: &'static str,
        /// The source as messages name it.
        source_name: String,
        /// This object's `<namespace>/<name>`.
        expected: String,
    },
}

/// Whether `owner` may restore `source_name` (named by the spec field `field`), a
/// source whose tags are `tags`: it was made for `owner`'s namespace in `owner`'s
/// cluster, or it carries the opt-in tag for `owner`.
///
/// # Errors
/// [`RestoreRefused`] saying what to do.
pub fn may_restore<'a>(
    field: &'static str,
    source_name: &str,
    tags: impl IntoIterator<Item = (&'a str, &'a str)>,
    owner: &Owner,
) -> Result<(), RestoreRefused> {
    let [cluster, namespace, opt_in] = tag_values(tags, [CLUSTER, NAMESPACE, RESTORABLE]);
    if cluster == Some(owner.cluster.as_str()) && namespace == Some(owner.namespace.as_str()) {
        return Ok(());
    }
    let expected = format!("{}/{}", owner.namespace, owner.name);
    match opt_in.map(str::trim) {
        Some(value) if value == expected => Ok(()),
        Some(_) => Err(RestoreRefused::OptedInForAnother {
            field,
            source_name: source_name.to_owned(),
            expected,
        }),
        None => Err(RestoreRefused::NotOptedIn {
            field,
            source_name: source_name.to_owned(),
            namespace: owner.namespace.clone(),
            expected,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::tags::NAME;

    const FIELD: &str = "spec.restoreFrom.dbSnapshotIdentifier";
    const SOURCE: &str = "DB snapshot nightly-1";

    fn owner() -> Owner {
        Owner {
            cluster: "prod".into(),
            namespace: "news".into(),
            name: "restored".into(),
            uid: "u1".into(),
        }
    }

    #[test]
    fn a_source_made_for_this_namespace_of_this_cluster_is_restorable() {
        let sibling = [(CLUSTER, "prod"), (NAMESPACE, "news"), (NAME, "db")];
        assert_eq!(may_restore(FIELD, SOURCE, sibling, &owner()), Ok(()));
    }

    #[test]
    fn an_untagged_source_needs_the_opt_in_tag_for_this_object() {
        let error = may_restore(FIELD, SOURCE, [("team", "billing")], &owner()).unwrap_err();
        assert!(matches!(error, RestoreRefused::NotOptedIn { .. }));
        let message = error.to_string();
        assert!(message.contains(FIELD), "{message}");
        assert!(
            message.contains("tiered.io/restorable=news/restored"),
            "{message}"
        );
        assert_eq!(
            may_restore(FIELD, SOURCE, [(RESTORABLE, "news/restored")], &owner()),
            Ok(())
        );
    }

    #[test]
    fn another_namespace_or_cluster_is_refused_without_naming_it() {
        for tags in [
            [(CLUSTER, "prod"), (NAMESPACE, "billing"), (NAME, "ledger")],
            [(CLUSTER, "staging"), (NAMESPACE, "news"), (NAME, "ledger")],
        ] {
            let error = may_restore(FIELD, SOURCE, tags, &owner()).unwrap_err();
            let message = error.to_string();
            assert!(
                !message.contains("billing")
                    && !message.contains("ledger")
                    && !message.contains("staging"),
                "{message}"
            );
        }
        // The administrator's opt-in still allows it.
        let opted = [
            (CLUSTER, "prod"),
            (NAMESPACE, "billing"),
            (RESTORABLE, " news/restored "),
        ];
        assert_eq!(may_restore(FIELD, SOURCE, opted, &owner()), Ok(()));
    }

    #[test]
    fn an_opt_in_for_another_object_is_refused_without_naming_it() {
        let error =
            may_restore(FIELD, SOURCE, [(RESTORABLE, "billing/ledger")], &owner()).unwrap_err();
        assert!(matches!(error, RestoreRefused::OptedInForAnother { .. }));
        let message = error.to_string();
        assert!(
            !message.contains("billing") && !message.contains("ledger"),
            "{message}"
        );
    }
}
