//! Ownership tags on AWS resources (`tiered.io/cluster`, `/namespace`, `/name`, `/uid`)
//! and the ownership guard that reads them back, and the record of which user tag keys
//! tiered set (`tiered.io/tag-keys`, see [`TAG_KEYS`]). Pure: no client.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use crate::api::shared::TAG_PREFIX;

/// Tag key: the tiered installation (cluster name) that owns the resource.
pub const CLUSTER: &str = "tiered.io/cluster";
/// Tag key: namespace of the owning object.
pub const NAMESPACE: &str = "tiered.io/namespace";
/// Tag key: name of the owning object.
pub const NAME: &str = "tiered.io/name";
/// Tag key: UID of the owning object.
pub const UID: &str = "tiered.io/uid";
/// Tag key: the record of the user tag keys tiered set on the resource, so that a key
/// removed from the spec is removed in AWS and no other key ever is.
///
/// Why a tag and not the object's status: the record travels with the resource and is
/// written in the same AddTagsToResource call as the keys it lists, so it can never
/// claim keys that were not ours (a status is lost when the object is recreated or
/// restored, and written after AWS, so it can lag either way). Why digests and not the
/// keys: a tag value holds 256 characters and a spec up to 40 keys of 128, so each key
/// is recorded as [`KEY_DIGEST_LEN`] base32 characters of its SHA-256
/// ([`key_digest`]); 40 of them fit (240 characters). A key someone else set whose
/// digest collides with one of ours (odds about 4 in 10^8 per key for 40 keys) could be
/// removed when the user drops ours; that is the price of a bounded record.
pub const TAG_KEYS: &str = "tiered.io/tag-keys";
/// Every tag key tiered writes besides the user's; `Retain` removes exactly these.
pub const OWNERSHIP_KEYS: [&str; 5] = [CLUSTER, NAMESPACE, NAME, UID, TAG_KEYS];
/// Characters of one key's digest in the [`TAG_KEYS`] record.
pub const KEY_DIGEST_LEN: usize = 6;

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

impl Owner {
    /// The owner `tags` name (the ownership tags tiered writes, as in a desired
    /// resource's tags); a missing tag reads as empty.
    pub fn from_tags(tags: &BTreeMap<String, String>) -> Self {
        let tag = |key: &str| tags.get(key).cloned().unwrap_or_default();
        Self {
            cluster: tag(CLUSTER),
            namespace: tag(NAMESPACE),
            name: tag(NAME),
            uid: tag(UID),
        }
    }
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

/// Whether `key` is reserved: tiered's own (`tiered.io/`) or AWS' (`aws:` in any upper
/// or lower case, as AWS' tagging rules reserve it).
pub fn is_reserved_key(key: &str) -> bool {
    key.starts_with(TAG_PREFIX)
        || key
            .get(..4)
            .is_some_and(|head| head.eq_ignore_ascii_case("aws:"))
}

/// The user's tags (reserved `tiered.io/` and `aws:` keys dropped; the CRD rejects them
/// too) plus the ownership tags of `owner` and the [`TAG_KEYS`] record of the user's
/// keys.
pub fn resource_tags(owner: &Owner, user: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut tags: BTreeMap<String, String> = user
        .iter()
        .filter(|(key, _)| !is_reserved_key(key))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    let record = tag_keys_record(tags.keys().map(String::as_str));
    tags.extend(ownership_tags(owner));
    tags.insert(TAG_KEYS.to_owned(), record);
    tags
}

/// [`KEY_DIGEST_LEN`] lowercase base32 characters (RFC 4648 alphabet, valid in RDS and
/// ElastiCache tag values) of the SHA-256 of `key`.
pub fn key_digest(key: &str) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let digest = Sha256::digest(key.as_bytes());
    let bits = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    (0..KEY_DIGEST_LEN)
        .map(|index| {
            let shift = 27 - 5 * u32::try_from(index).unwrap_or(0);
            char::from(ALPHABET[((bits >> shift) & 0x1f) as usize])
        })
        .collect()
}

/// The [`TAG_KEYS`] value for `keys`: their digests, sorted, without repeats, joined.
pub fn tag_keys_record<'a>(keys: impl IntoIterator<Item = &'a str>) -> String {
    keys.into_iter()
        .map(key_digest)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The digests a [`TAG_KEYS`] value records (a malformed tail is ignored).
pub fn recorded_digests(record: &str) -> BTreeSet<&str> {
    let mut digests = BTreeSet::new();
    let mut rest = record;
    while let (Some(digest), Some(tail)) = (rest.get(..KEY_DIGEST_LEN), rest.get(KEY_DIGEST_LEN..))
    {
        digests.insert(digest);
        rest = tail;
    }
    digests
}

/// The values of `keys` among `tags`, in the order of `keys` (`None` for a key that is
/// absent; the last of a repeated key wins). One pass over `tags`, which an SDK gives
/// as a list.
pub fn tag_values<'a, const N: usize>(
    tags: impl IntoIterator<Item = (&'a str, &'a str)>,
    keys: [&str; N],
) -> [Option<&'a str>; N] {
    let mut values = [None; N];
    for (key, value) in tags {
        if let Some(index) = keys.iter().position(|wanted| *wanted == key) {
            values[index] = Some(value);
        }
    }
    values
}

/// Who owns a resource with `tags`, as seen by `owner`. The UID is not compared: an
/// object restored from backup under the same name keeps its claim (the UID tag is
/// rewritten); cluster, namespace and name decide.
pub fn ownership<'a>(
    tags: impl IntoIterator<Item = (&'a str, &'a str)>,
    owner: &Owner,
) -> Ownership {
    let [cluster, namespace, name] = tag_values(tags, [CLUSTER, NAMESPACE, NAME]);
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

/// The owner the unit tests of the tags and their diffs share: `prod`, `shop/db`.
#[cfg(test)]
impl Owner {
    pub(crate) fn for_tests() -> Self {
        Owner {
            cluster: "prod".into(),
            namespace: "shop".into(),
            name: "db".into(),
            uid: "u-1".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Owner {
        Owner::for_tests()
    }

    #[test]
    fn resource_tags_are_user_tags_plus_the_four_ownership_tags() {
        let user = BTreeMap::from([
            ("team".to_owned(), "news".to_owned()),
            ("tiered.io/name".to_owned(), "spoof".to_owned()),
            ("aws:x".to_owned(), "y".to_owned()),
            ("AWS:Owner".to_owned(), "y".to_owned()),
        ]);
        let tags = resource_tags(&owner(), &user);
        assert_eq!(tags.len(), 6);
        assert_eq!(tags["team"], "news");
        assert_eq!(tags[TAG_KEYS], key_digest("team"));
        assert_eq!(tags[NAME], "db");
        assert_eq!(tags[UID], "u-1");
        assert!(!tags.contains_key("aws:x"));
        assert!(!tags.contains_key("AWS:Owner"));
    }

    /// The record of 40 keys of 128 characters (the most a spec holds) fits in a tag
    /// value (256 characters in RDS and ElastiCache), and reads back as what was
    /// written.
    #[test]
    fn the_tag_keys_record_fits_a_tag_value_and_reads_back() {
        let keys: Vec<String> = (0..40).map(|i| format!("{i:0>128}")).collect();
        let record = tag_keys_record(keys.iter().map(String::as_str));
        assert_eq!(record.len(), 40 * KEY_DIGEST_LEN);
        assert!(
            record
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
        let read = recorded_digests(&record);
        assert_eq!(read.len(), 40);
        for key in &keys {
            assert!(read.contains(key_digest(key).as_str()), "{key}");
        }
        assert!(recorded_digests("").is_empty());
        assert_eq!(
            recorded_digests("abcdefgh").len(),
            1,
            "a short tail is ignored"
        );
        assert_eq!(key_digest("team"), key_digest("team"));
        assert_ne!(key_digest("team"), key_digest("Team"));
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
    fn tag_values_reads_the_keys_asked_for_in_their_order() {
        let tags = [
            ("team", "news"),
            (NAME, "db"),
            (CLUSTER, "old"),
            (CLUSTER, "prod"),
        ];
        assert_eq!(
            tag_values(tags, [CLUSTER, NAMESPACE, NAME]),
            [Some("prod"), None, Some("db")]
        );
        assert_eq!(tag_values([], [CLUSTER]), [None]);
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
        assert_eq!(tags.len(), 6);
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
