//! Adoption is opt-in on both sides (DESIGN.md "Adoption is opt-in on both sides"): the
//! operator's administrator lists the namespaces that may adopt (`--adopt-namespaces`,
//! empty = none), and the AWS resource carries an opt-in tag set by whoever administers
//! the AWS account, naming the one object that may take it:
//! `tiered.io/adoptable = <namespace>/<name>`. Pure: the verdict from the resource's tags,
//! the claiming object and the operator's list, checked before any mutating call.
//!
//! A refusal never names another tenant's namespace or object: a resource tagged for
//! someone else is only "owned elsewhere".

use std::collections::BTreeSet;

use crate::aws::tags::{Owner, Ownership, ownership};

/// Tag key an administrator sets on an existing AWS resource to allow one object to
/// adopt it; the value is `<namespace>/<name>` of that object.
pub const ADOPTABLE: &str = "tiered.io/adoptable";

/// Why an adoption is refused. Messages say what to do and reveal no other owner.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AdoptionRefused {
    /// The operator does not allow adoption in the object's namespace.
    #[error(
        "failed to adopt {resource}: the operator does not allow adoption in namespace {namespace}; ask its administrator to add it to --adopt-namespaces (Helm value adoptNamespaces)"
    )]
    NamespaceNotAllowed {
        /// The AWS resource (`DB instance legacy-db`).
        resource: String,
        /// The object's namespace.
        namespace: String,
    },
    /// The resource carries no opt-in tag.
    #[error(
        "failed to adopt {resource}: it has no {ADOPTABLE} tag; an administrator of the AWS account must tag it {ADOPTABLE}={expected} to allow this object to take it over"
    )]
    NotOptedIn {
        /// The AWS resource.
        resource: String,
        /// The tag value that would allow this object.
        expected: String,
    },
    /// The opt-in tag names another object (which one is not said).
    #[error(
        "failed to adopt {resource}: its {ADOPTABLE} tag allows another object to take it over, not {expected}; ask the AWS account's administrator to change the tag"
    )]
    OptedInForAnother {
        /// The AWS resource.
        resource: String,
        /// This object's `<namespace>/<name>`.
        expected: String,
    },
    /// The resource is already claimed by another tiered object or cluster.
    #[error(
        "failed to adopt {resource}: it is owned by another tiered object; choose another resource to adopt"
    )]
    OwnedElsewhere {
        /// The AWS resource.
        resource: String,
    },
}

/// Whether `owner` may adopt `resource` (named for messages, e.g. `DB instance legacy-db`)
/// with `tags`, when the operator allows adoption in `allowed_namespaces`. A resource
/// already tagged for `owner` is fine (a retry after a crash between claim and record).
pub fn may_adopt<'a>(
    resource: &str,
    tags: impl IntoIterator<Item = (&'a str, &'a str)> + Clone,
    owner: &Owner,
    allowed_namespaces: &BTreeSet<String>,
) -> Result<(), AdoptionRefused> {
    if !allowed_namespaces.contains(&owner.namespace) {
        return Err(AdoptionRefused::NamespaceNotAllowed {
            resource: resource.to_owned(),
            namespace: owner.namespace.clone(),
        });
    }
    match ownership(tags.clone(), owner) {
        Ownership::Ours => return Ok(()),
        Ownership::OwnedElsewhere { .. } => {
            return Err(AdoptionRefused::OwnedElsewhere {
                resource: resource.to_owned(),
            });
        }
        Ownership::Unowned => {}
    }
    let expected = format!("{}/{}", owner.namespace, owner.name);
    match tags.into_iter().find(|(key, _)| *key == ADOPTABLE) {
        None => Err(AdoptionRefused::NotOptedIn {
            resource: resource.to_owned(),
            expected,
        }),
        Some((_, value)) if value.trim() == expected => Ok(()),
        Some(_) => Err(AdoptionRefused::OptedInForAnother {
            resource: resource.to_owned(),
            expected,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::tags::{CLUSTER, NAME, NAMESPACE};

    fn owner() -> Owner {
        Owner {
            cluster: "prod".into(),
            namespace: "news".into(),
            name: "db".into(),
            uid: "u1".into(),
        }
    }

    fn allowed(namespaces: &[&str]) -> BTreeSet<String> {
        namespaces.iter().map(|n| (*n).to_owned()).collect()
    }

    const RESOURCE: &str = "DB instance legacy";

    #[test]
    fn adoption_needs_both_the_namespace_and_the_opt_in_tag() {
        let tagged = [(ADOPTABLE, "news/db"), ("team", "news")];
        assert_eq!(
            may_adopt(RESOURCE, tagged, &owner(), &allowed(&["news"])),
            Ok(())
        );
        // An empty list allows no namespace (it used to allow all).
        assert!(matches!(
            may_adopt(RESOURCE, tagged, &owner(), &allowed(&[])),
            Err(AdoptionRefused::NamespaceNotAllowed { .. })
        ));
        assert!(matches!(
            may_adopt(RESOURCE, [("team", "news")], &owner(), &allowed(&["news"])),
            Err(AdoptionRefused::NotOptedIn { .. })
        ));
    }

    #[test]
    fn an_opt_in_for_another_object_is_refused_without_naming_it() {
        let error = may_adopt(
            RESOURCE,
            [(ADOPTABLE, "billing/ledger")],
            &owner(),
            &allowed(&["news"]),
        )
        .unwrap_err();
        assert!(matches!(error, AdoptionRefused::OptedInForAnother { .. }));
        let message = error.to_string();
        assert!(
            !message.contains("billing") && !message.contains("ledger"),
            "{message}"
        );
    }

    #[test]
    fn a_resource_owned_elsewhere_is_refused_without_revealing_the_owner() {
        let tags = [
            (CLUSTER, "other-cluster"),
            (NAMESPACE, "billing"),
            (NAME, "ledger"),
            (ADOPTABLE, "news/db"),
        ];
        let error = may_adopt(RESOURCE, tags, &owner(), &allowed(&["news"])).unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, AdoptionRefused::OwnedElsewhere { .. }));
        for secret in ["other-cluster", "billing", "ledger"] {
            assert!(!message.contains(secret), "{message}");
        }
    }

    #[test]
    fn a_resource_already_claimed_by_this_object_is_fine() {
        let tags = [(CLUSTER, "prod"), (NAMESPACE, "news"), (NAME, "db")];
        assert_eq!(
            may_adopt(RESOURCE, tags, &owner(), &allowed(&["news"])),
            Ok(())
        );
    }
}
