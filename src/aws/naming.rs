//! Deterministic AWS identifiers from (cluster name, namespace, name): pure functions,
//! no client. The same triple always gives the same identifier, so a crash between
//! "create" and "record it" finds the instance again instead of making a second one.
//!
//! Every identifier is a readable prefix made from the triple, then `-` and 8 hex
//! characters of the SHA-256 of the triple. The hash is always there, not only when
//! the prefix is truncated: joining with `-` is ambiguous (namespace `a-b` + name `c`
//! and namespace `a` + name `b-c` read the same), and the hash keeps them apart.

use sha2::{Digest, Sha256};

/// Longest RDS DB instance identifier.
pub const RDS_MAX_LEN: usize = 63;
/// Longest ElastiCache replication group id.
pub const ELASTICACHE_MAX_LEN: usize = 40;
/// Room kept free at the end of a primary RDS identifier for a replica suffix `-r99`.
const REPLICA_SUFFIX_ROOM: usize = 4;
/// Hex characters of the hash suffix.
const HASH_LEN: usize = 8;

/// The RDS DB instance identifier of the ManagedDatabase `namespace/name` in `cluster`.
/// It leaves room for [`rds_replica_identifier`] suffixes.
pub fn rds_instance_identifier(cluster: &str, namespace: &str, name: &str) -> String {
    identifier(cluster, namespace, name, RDS_MAX_LEN - REPLICA_SUFFIX_ROOM)
}

/// The RDS DB instance identifier of the ManagedDatabase `namespace/name` in `cluster`
/// when it is a replica of another instance (`spec.replicaOf`): its
/// [`rds_instance_identifier`] with `-rr`. The IAM policy tells a new replica from its
/// source by name alone (the new one has no tags yet): it exempts `db:*-r?` and
/// `db:*-r??` from the rule that the source must be this cluster's, and this name is
/// one of those (never one of [`rds_replica_identifier`]'s, whose index is a number).
pub fn rds_replica_of_identifier(cluster: &str, namespace: &str, name: &str) -> String {
    rds_instance_identifier(cluster, namespace, name) + REPLICA_OF_SUFFIX
}

/// The suffix of [`rds_replica_of_identifier`].
pub const REPLICA_OF_SUFFIX: &str = "-rr";

/// The ElastiCache replication group id of the CacheCluster `namespace/name` in `cluster`.
pub fn elasticache_replication_group_id(cluster: &str, namespace: &str, name: &str) -> String {
    identifier(cluster, namespace, name, ELASTICACHE_MAX_LEN)
}

/// The identifier of read replica number `index` (1-based) of the instance `primary`:
/// `<primary>-r<index>`, the primary shortened when the whole would pass 63 characters
/// (adopted instances may have long identifiers).
pub fn rds_replica_identifier(primary: &str, index: u32) -> String {
    let suffix = format!("-r{index}");
    let keep = RDS_MAX_LEN.saturating_sub(suffix.len());
    let mut base: String = primary.chars().take(keep).collect();
    while base.ends_with('-') {
        base.pop();
    }
    base + &suffix
}

/// The replica index of `candidate` when it is `<primary>-r<n>` as made by
/// [`rds_replica_identifier`].
pub fn rds_replica_index(primary: &str, candidate: &str) -> Option<u32> {
    let (base, index) = candidate.rsplit_once("-r")?;
    let index: u32 = index.parse().ok()?;
    (index > 0 && rds_replica_identifier(primary, index) == candidate && !base.is_empty())
        .then_some(index)
}

/// `id` as RDS and ElastiCache store it: lowercase. Both services take an identifier in
/// any case, match it without case, and list it lowercase, so an identifier the user
/// gives (`spec.adopt`) is lowercased before tiered names anything after it
/// (`<id>-snap-<name>`, `<id>-r1`) or compares it with what AWS lists.
pub fn stored_identifier(id: &str) -> String {
    id.to_ascii_lowercase()
}

/// Whether `id` is a valid RDS DB instance identifier: 1–63 letters, digits or hyphens,
/// starting with a letter, no trailing hyphen, no two consecutive hyphens.
pub fn is_valid_rds_identifier(id: &str) -> bool {
    is_valid(id, RDS_MAX_LEN) && id.chars().all(|c| c != '_')
}

/// Whether `id` is a valid ElastiCache replication group id: the RDS rules, 1–40
/// characters, lowercase.
pub fn is_valid_elasticache_id(id: &str) -> bool {
    is_valid(id, ELASTICACHE_MAX_LEN) && !id.chars().any(|c| c.is_ascii_uppercase())
}

fn is_valid(id: &str, max: usize) -> bool {
    !id.is_empty()
        && id.len() <= max
        && id.starts_with(|c: char| c.is_ascii_alphabetic())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !id.ends_with('-')
        && !id.contains("--")
}

fn identifier(cluster: &str, namespace: &str, name: &str, max: usize) -> String {
    let hash = short_hash(cluster, namespace, name);
    let mut prefix = readable_prefix(&format!("{cluster}-{namespace}-{name}"));
    // `prefix` + "-" + hash must fit in `max`.
    prefix.truncate(max - HASH_LEN - 1);
    while prefix.ends_with('-') {
        prefix.pop();
    }
    if prefix.is_empty() {
        // Nothing readable survived: the hash alone, behind a letter.
        prefix.push('t');
    }
    format!("{prefix}-{hash}")
}

/// Lowercase letters and digits of `raw`, every other run of characters one hyphen,
/// starting with a letter (a leading digit gets a `t` in front), no trailing hyphen.
fn readable_prefix(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if c.is_ascii_alphanumeric() {
            if out.is_empty() && c.is_ascii_digit() {
                out.push('t');
            }
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// 8 hex characters of SHA-256 over the triple, NUL-separated so that no two triples
/// hash the same input.
fn short_hash(cluster: &str, namespace: &str, name: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [cluster, namespace, name] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    let mut hex = hex::encode(digest);
    hex.truncate(HASH_LEN);
    hex
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn identifiers_read_as_cluster_namespace_name_with_a_hash() {
        let id = rds_instance_identifier("prod", "shop", "newsread-db");
        assert!(id.starts_with("prod-shop-newsread-db-"), "{id}");
        assert_eq!(id.len(), "prod-shop-newsread-db-".len() + 8);
        assert!(is_valid_rds_identifier(&id));
    }

    #[test]
    fn table_of_awkward_inputs_gives_valid_identifiers() {
        let cases = [
            ("", "", ""),
            ("1cluster", "ns", "db"),
            ("Prod_EU", "shop", "my.db.v2"),
            ("---", "--", "-"),
            (
                "prod",
                "a-very-long-namespace-name-that-goes-on",
                "and-a-very-long-name-too-0123456789",
            ),
            ("ü", "ns", "db"),
        ];
        for (cluster, namespace, name) in cases {
            let rds = rds_instance_identifier(cluster, namespace, name);
            let cache = elasticache_replication_group_id(cluster, namespace, name);
            assert!(
                is_valid_rds_identifier(&rds),
                "{rds:?} from {cluster:?}/{namespace:?}/{name:?}"
            );
            assert!(
                is_valid_elasticache_id(&cache),
                "{cache:?} from {cluster:?}/{namespace:?}/{name:?}"
            );
            assert!(rds.len() <= RDS_MAX_LEN - REPLICA_SUFFIX_ROOM);
        }
    }

    #[test]
    fn hyphen_ambiguous_triples_get_different_identifiers() {
        assert_ne!(
            rds_instance_identifier("c", "a-b", "x"),
            rds_instance_identifier("c", "a", "b-x"),
        );
    }

    #[test]
    fn replica_identifiers_append_the_index_within_the_limit() {
        assert_eq!(rds_replica_identifier("db", 1), "db-r1");
        let long = format!("a{}", "b".repeat(62));
        let replica = rds_replica_identifier(&long, 12);
        assert_eq!(replica.len(), RDS_MAX_LEN);
        assert!(is_valid_rds_identifier(&replica));
        assert_eq!(rds_replica_index(&long, &replica), Some(12));
        assert_eq!(rds_replica_index("db", "db-r3"), Some(3));
        assert_eq!(rds_replica_index("db", "other-r3"), None);
        assert_eq!(rds_replica_index("db", "db-r0"), None);
        assert_eq!(rds_replica_index("db", "db"), None);
        let replica_of = rds_replica_of_identifier("prod", &"n".repeat(63), &"x".repeat(253));
        assert!(is_valid_rds_identifier(&replica_of), "{replica_of}");
        assert!(replica_of.ends_with("-rr"));
        let primary = rds_instance_identifier("prod", &"n".repeat(63), &"x".repeat(253));
        assert_eq!(
            rds_replica_index(&primary, &replica_of),
            None,
            "not a numbered replica"
        );
    }

    #[test]
    fn validity_rules_reject_what_aws_rejects() {
        for bad in ["", "1db", "db-", "d--b", "d_b", "d.b", &"a".repeat(64)] {
            assert!(!is_valid_rds_identifier(bad), "{bad:?}");
        }
        assert!(!is_valid_elasticache_id("Db"));
        assert!(!is_valid_elasticache_id(&"a".repeat(41)));
        assert!(is_valid_rds_identifier("Db-1"));
    }

    proptest! {
        #[test]
        fn every_identifier_is_valid_and_deterministic(
            cluster in "\\PC{0,40}", namespace in "[a-z0-9-]{0,63}", name in "\\PC{0,253}",
        ) {
            let rds = rds_instance_identifier(&cluster, &namespace, &name);
            prop_assert!(is_valid_rds_identifier(&rds), "{}", rds);
            prop_assert_eq!(&rds, &rds_instance_identifier(&cluster, &namespace, &name));
            let cache = elasticache_replication_group_id(&cluster, &namespace, &name);
            prop_assert!(is_valid_elasticache_id(&cache), "{}", cache);
            prop_assert_eq!(&cache, &elasticache_replication_group_id(&cluster, &namespace, &name));
            for index in 1..=99 {
                prop_assert!(is_valid_rds_identifier(&rds_replica_identifier(&rds, index)));
            }
        }

        #[test]
        fn distinct_triples_give_distinct_identifiers(
            a in ("[a-z-]{0,12}", "[a-z-]{0,12}", "[a-z.-]{0,60}"),
            b in ("[a-z-]{0,12}", "[a-z-]{0,12}", "[a-z.-]{0,60}"),
        ) {
            prop_assume!(a != b);
            prop_assert_ne!(rds_instance_identifier(&a.0, &a.1, &a.2), rds_instance_identifier(&b.0, &b.1, &b.2));
            prop_assert_ne!(
                elasticache_replication_group_id(&a.0, &a.1, &a.2),
                elasticache_replication_group_id(&b.0, &b.1, &b.2)
            );
        }
    }
}
