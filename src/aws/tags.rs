//! Ownership tags on AWS resources (`tiered.io/cluster`, `/namespace`, `/name`, `/uid`)
//! and the ownership guard that reads them back. Pure: no client.

use std::collections::BTreeMap;

use crate::api::shared::TAG_PREFIX;

/// Tag key: the tiered installation (cluster name) that owns the resource.
pub const CLUSTER: &str = "tiered.io/cluster";
/// Tag key: namespace of the owning object.
pub const NAMESPACE: &str = "tiered.io/namespace";
/// Tag key: name of the owning object.
pub const NAME: &str = "tiered.io/name";
/// Tag key: UID of the owning object.
pub const UID: &str = "tiered.io/uid";
/// Every tag key tiered writes; `Retain` removes exactly these.
pub const OWNERSHIP_KEYS: [&str; 4] = [CLUSTER, NAMESPACE, NAME, UID];

/// The Kubernetes object that claims an AWS resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// Cluster name of this tiered installation.
    pub cluster: String,
    /// Namespace of the object.
    pub namespace: String,
    /// Name of the object.
    pub name: String,
    /// UID of the object.
    pub uid: String,
}

/// Who owns an AWS resource, judged from its tags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// Tagged for this object (cluster, namespace and name match).
    Ours,
    /// No tiered ownership tags at all.
    Unowned,
    /// Tagged for another object, possibly in another cluster.
    OwnedElsewhere {
        /// `tiered.io/cluster` of the other owner (empty when missing).
        cluster: String,
        /// `tiered.io/namespace` of the other owner (empty when missing).
        namespace: String,
        /// `tiered.io/name` of the other owner (empty when missing).
        name: String,
    },
}

/// The four ownership tags of `owner`.
pub fn ownership_tags(owner: &Owner) -> BTreeMap<String, String> {
    BTreeMap::from([
        (CLUSTER.to_owned(), owner.cluster.clone()),
        (NAMESPACE.to_owned(), owner.namespace.clone()),
        (NAME.to_owned(), owner.name.clone()),
        (UID.to_owned(), owner.uid.clone()),
    ])
}

/// The user's tags (reserved `tiered.io/` and `aws:` keys dropped; the CRD rejects them
/// too) plus the ownership tags of `owner`.
pub fn resource_tags(owner: &Owner, user: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut tags: BTreeMap<String, String> = user
        .iter()
        .filter(|(key, _)| !key.starts_with(TAG_PREFIX) && !key.starts_with("aws:"))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    tags.extend(ownership_tags(owner));
    tags
}

/// Who owns a resource with `tags`, as seen by `owner`. The UID is not compared: an
/// object restored from backup under the same name keeps its claim (the UID tag is
/// rewritten); cluster, namespace and name decide.
pub fn ownership<'a>(
    tags: impl IntoIterator<Item = (&'a str, &'a str)>,
    owner: &Owner,
) -> Ownership {
    let mut cluster = None;
    let mut namespace = None;
    let mut name = None;
    for (key, value) in tags {
        match key {
            CLUSTER => cluster = Some(value),
            NAMESPACE => namespace = Some(value),
            NAME => name = Some(value),
            _ => {}
        }
    }
    if cluster.is_none() && namespace.is_none() && name.is_none() {
        return Ownership::Unowned;
    }
    if cluster == Some(owner.cluster.as_str())
        && namespace == Some(owner.namespace.as_str())
        && name == Some(owner.name.as_str())
    {
        return Ownership::Ours;
    }
    Ownership::OwnedElsewhere {
        cluster: cluster.unwrap_or_default().to_owned(),
        namespace: namespace.unwrap_or_default().to_owned(),
        name: name.unwrap_or_default().to_owned(),
    }
}

/// The `Tag` of an AWS SDK. RDS and ElastiCache generate the same key/value shape from
/// their Smithy models as two types; this trait lets one function serve both.
pub trait SdkTag: Sized {
    /// The key and value (an absent value reads as empty); `None` without a key.
    fn key_value(&self) -> Option<(&str, &str)>;
    /// A tag of `key` and `value`.
    fn from_key_value(key: &str, value: &str) -> Self;
}

macro_rules! sdk_tag {
    ($($tag:ty),*) => {$(
        impl SdkTag for $tag {
            fn key_value(&self) -> Option<(&str, &str)> {
                Some((self.key()?, self.value().unwrap_or_default()))
            }

            fn from_key_value(key: &str, value: &str) -> Self {
                Self::builder().key(key).value(value).build()
            }
        }
    )*};
}

sdk_tag!(aws_sdk_rds::types::Tag, aws_sdk_elasticache::types::Tag);

/// Ownership of an AWS resource from the tags an SDK reports for it.
pub fn sdk_ownership<T: SdkTag>(tags: &[T], owner: &Owner) -> Ownership {
    ownership(tags.iter().filter_map(SdkTag::key_value), owner)
}

/// `tags` as the `Tag` values of an SDK.
pub fn to_sdk_tags<T: SdkTag>(tags: &BTreeMap<String, String>) -> Vec<T> {
    tags.iter()
        .map(|(key, value)| T::from_key_value(key, value))
        .collect()
}

/// Ownership of an RDS resource from its `TagList`.
pub fn rds_ownership(tags: &[aws_sdk_rds::types::Tag], owner: &Owner) -> Ownership {
    sdk_ownership(tags, owner)
}

/// `tags` as RDS `Tag` values.
pub fn to_rds_tags(tags: &BTreeMap<String, String>) -> Vec<aws_sdk_rds::types::Tag> {
    to_sdk_tags(tags)
}

/// Ownership of an ElastiCache resource from its tags (ListTagsForResource).
pub fn elasticache_ownership(tags: &[aws_sdk_elasticache::types::Tag], owner: &Owner) -> Ownership {
    sdk_ownership(tags, owner)
}

/// `tags` as ElastiCache `Tag` values.
pub fn to_elasticache_tags(
    tags: &BTreeMap<String, String>,
) -> Vec<aws_sdk_elasticache::types::Tag> {
    to_sdk_tags(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Owner {
        Owner {
            cluster: "prod".into(),
            namespace: "shop".into(),
            name: "db".into(),
            uid: "u-1".into(),
        }
    }

    #[test]
    fn resource_tags_are_user_tags_plus_the_four_ownership_tags() {
        let user = BTreeMap::from([
            ("team".to_owned(), "news".to_owned()),
            ("tiered.io/name".to_owned(), "spoof".to_owned()),
            ("aws:x".to_owned(), "y".to_owned()),
        ]);
        let tags = resource_tags(&owner(), &user);
        assert_eq!(tags.len(), 5);
        assert_eq!(tags["team"], "news");
        assert_eq!(tags[NAME], "db");
        assert_eq!(tags[UID], "u-1");
        assert!(!tags.contains_key("aws:x"));
    }

    #[test]
    fn ownership_table() {
        let ours = [
            (CLUSTER, "prod"),
            (NAMESPACE, "shop"),
            (NAME, "db"),
            (UID, "other-uid"),
        ];
        let elsewhere = [(CLUSTER, "prod"), (NAMESPACE, "other"), (NAME, "db")];
        let other_cluster = [(CLUSTER, "stage"), (NAMESPACE, "shop"), (NAME, "db")];
        let partial = [(NAME, "db")];
        let cases: [(&[(&str, &str)], Ownership); 5] = [
            (&ours, Ownership::Ours),
            (&[("team", "news")], Ownership::Unowned),
            (
                &elsewhere,
                Ownership::OwnedElsewhere {
                    cluster: "prod".into(),
                    namespace: "other".into(),
                    name: "db".into(),
                },
            ),
            (
                &other_cluster,
                Ownership::OwnedElsewhere {
                    cluster: "stage".into(),
                    namespace: "shop".into(),
                    name: "db".into(),
                },
            ),
            (
                &partial,
                Ownership::OwnedElsewhere {
                    cluster: String::new(),
                    namespace: String::new(),
                    name: "db".into(),
                },
            ),
        ];
        for (tags, expected) in cases {
            assert_eq!(
                ownership(tags.iter().copied(), &owner()),
                expected,
                "{tags:?}"
            );
        }
    }

    #[test]
    fn rds_tags_round_trip_through_the_guard() {
        let tags = to_rds_tags(&resource_tags(&owner(), &BTreeMap::new()));
        assert_eq!(rds_ownership(&tags, &owner()), Ownership::Ours);
    }

    #[test]
    fn elasticache_tags_round_trip_through_the_guard() {
        let user = BTreeMap::from([("team".to_owned(), "news".to_owned())]);
        let tags = to_elasticache_tags(&resource_tags(&owner(), &user));
        assert_eq!(tags.len(), 5);
        assert_eq!(elasticache_ownership(&tags, &owner()), Ownership::Ours);
        let stranger = Owner {
            name: "other".into(),
            ..owner()
        };
        assert!(matches!(
            elasticache_ownership(&tags, &stranger),
            Ownership::OwnedElsewhere { .. }
        ));
    }

    #[test]
    fn a_tag_without_a_key_is_ignored_and_one_without_a_value_reads_empty() {
        let tags = [
            aws_sdk_rds::types::Tag::builder().value("prod").build(),
            aws_sdk_rds::types::Tag::builder().key(NAME).build(),
        ];
        assert_eq!(
            rds_ownership(&tags, &owner()),
            Ownership::OwnedElsewhere {
                cluster: String::new(),
                namespace: String::new(),
                name: String::new(),
            }
        );
    }
}
