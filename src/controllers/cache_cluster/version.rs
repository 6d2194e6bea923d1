//! Cache engine versions as ElastiCache reports them against the spec: whether the
//! running version satisfies `spec.engineVersion`, is older (an upgrade to send) or
//! newer (a downgrade, refused); and the parameter group family of a version, for the
//! cluster-mode default `default.<family>.cluster.on`. Pure.
//!
//! Why a rule rather than string equality: ElastiCache takes `6.x` (Redis OSS 6) or
//! `7.0` and reports the exact version it runs (`6.2.6`, `7.0.7`), and its automatic
//! minor upgrades move a group from `7.0` to `7.1` on their own. Comparing strings sent
//! `7.0` back forever, asking for a downgrade AWS refuses
//! (crossplane-contrib/provider-aws#622).

use crate::api::cache_cluster::CacheEngine;

/// How the running engine version stands against the spec's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionCheck {
    /// The running version satisfies the spec: the same, or a newer minor or patch
    /// within the spec's major version (`7.0` is satisfied by `7.1.0`; `6.x` by any
    /// `6.*`).
    Satisfied,
    /// The running version is older than the spec's: send the spec's version.
    Upgrade,
    /// The running version is newer than the spec allows (another major version, or
    /// newer than a wildcard's prefix): ElastiCache cannot downgrade.
    Downgrade,
}

/// One dot-separated part of a version: a number, or the `x` wildcard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    Number(u64),
    Any,
}

/// The parts of `version`; `None` when a part is neither a number nor `x`.
fn parts(version: &str) -> Option<Vec<Part>> {
    version
        .trim()
        .split('.')
        .map(|part| {
            if part.eq_ignore_ascii_case("x") {
                Some(Part::Any)
            } else {
                part.parse().ok().map(Part::Number)
            }
        })
        .collect()
}

/// The numbers of `version` (the running one, always numeric); `None` otherwise.
fn numbers(version: &str) -> Option<Vec<u64>> {
    parts(version)?
        .into_iter()
        .map(|part| match part {
            Part::Number(number) => Some(number),
            Part::Any => None,
        })
        .collect()
}

/// How the running version `observed` stands against `wanted` (the spec's).
///
/// The spec's parts up to a `x` wildcard are its prefix. The major version must be
/// the same; within it, the running version satisfies the spec when it is at least the
/// spec's on the parts the spec gives (`7.0` against `7.1.0` compares `7.1` with `7.0`).
/// A wildcard accepts anything below its prefix (`6.x` against `6.2.6`). A version
/// this rule cannot read is satisfied only by itself or a longer version starting with
/// it, and otherwise sent.
pub fn check_version(wanted: &str, observed: &str) -> VersionCheck {
    let (Some(wanted_parts), Some(observed)) = (parts(wanted), numbers(observed)) else {
        let prefix = format!("{wanted}.");
        return if observed == wanted || observed.starts_with(&prefix) {
            VersionCheck::Satisfied
        } else {
            VersionCheck::Upgrade
        };
    };
    let wildcard = wanted_parts.iter().position(|part| *part == Part::Any);
    let wanted: Vec<u64> = wanted_parts
        .iter()
        .take(wildcard.unwrap_or(wanted_parts.len()))
        .filter_map(|part| match part {
            Part::Number(number) => Some(*number),
            Part::Any => None,
        })
        .collect();
    let (Some(wanted_major), Some(observed_major)) = (wanted.first(), observed.first()) else {
        // `x` alone: any version.
        return VersionCheck::Satisfied;
    };
    match observed_major.cmp(wanted_major) {
        std::cmp::Ordering::Less => return VersionCheck::Upgrade,
        std::cmp::Ordering::Greater => return VersionCheck::Downgrade,
        std::cmp::Ordering::Equal => {}
    }
    // Missing parts of the running version count as 0 (`7` is `7.0`).
    let running: Vec<u64> = (0..wanted.len())
        .map(|index| observed.get(index).copied().unwrap_or(0))
        .collect();
    match (running.cmp(&wanted), wildcard) {
        (std::cmp::Ordering::Less, _) => VersionCheck::Upgrade,
        // Newer than a wildcard's prefix (`6.x` running `7.0` is caught by the major
        // above; `6.2.x` running `6.3.1` lands here).
        (std::cmp::Ordering::Greater, Some(_)) => VersionCheck::Downgrade,
        // The same, or a newer minor or patch of the spec's version.
        (std::cmp::Ordering::Equal | std::cmp::Ordering::Greater, _) => VersionCheck::Satisfied,
    }
}

/// The parameter group family of `engine` at `version` (`redis7`, `redis6.x`,
/// `redis5.0`, `valkey8`), as ElastiCache names its default parameter groups; `None`
/// for a version it cannot read.
pub fn parameter_group_family(engine: CacheEngine, version: &str) -> Option<String> {
    let parts = parts(version)?;
    let major = match parts.first()? {
        Part::Number(major) => *major,
        Part::Any => return None,
    };
    let minor = match parts.get(1) {
        Some(Part::Number(minor)) => Some(*minor),
        _ => None,
    };
    Some(match engine {
        CacheEngine::Valkey => format!("valkey{major}"),
        // Redis OSS families: redis7, redis6.x, and major.minor before 6 (redis5.0,
        // redis4.0, redis3.2, redis2.8).
        CacheEngine::Redis if major >= 7 => format!("redis{major}"),
        CacheEngine::Redis if major == 6 => "redis6.x".to_owned(),
        CacheEngine::Redis => format!("redis{major}.{}", minor?),
    })
}

/// ElastiCache's default cluster-mode parameter group for `engine` at `version`:
/// `default.<family>.cluster.on`.
pub fn cluster_mode_parameter_group(engine: CacheEngine, version: &str) -> Option<String> {
    parameter_group_family(engine, version).map(|family| format!("default.{family}.cluster.on"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Source: crossplane-contrib/provider-aws#622 (a `6.x` spec against the `6.0.5`
    /// ElastiCache reports modified the group on every reconcile), and the ElastiCache
    /// guide "Supported engines and versions" (automatic minor upgrades; `6.x` selects
    /// the latest Redis OSS 6).
    #[test]
    fn table_of_versions_against_the_spec() {
        use VersionCheck::{Downgrade, Satisfied, Upgrade};
        let cases = [
            ("7.0", "7.0.7", Satisfied),
            ("7.0", "7.1.0", Satisfied),
            ("7.0", "7.1", Satisfied),
            ("6.x", "6.0.5", Satisfied),
            ("6.x", "6.2.6", Satisfied),
            ("6.X", "6.2.6", Satisfied),
            ("6.2", "6.2.6", Satisfied),
            ("8.0", "8.0.1", Satisfied),
            ("8.0", "8.0", Satisfied),
            ("7.0.5", "7.0.7", Satisfied),
            ("7", "7.1.0", Satisfied),
            ("7.1", "7.0.7", Upgrade),
            ("8.0", "7.1.0", Upgrade),
            ("7.0", "6.2.6", Upgrade),
            ("7.x", "6.2.6", Upgrade),
            ("6.2", "7.0.7", Downgrade),
            ("6.x", "7.1.0", Downgrade),
            ("7.0", "8.0.1", Downgrade),
            ("6.2.x", "6.3.1", Downgrade),
            ("6.2.x", "6.2.6", Satisfied),
        ];
        for (wanted, observed, expected) in cases {
            assert_eq!(
                check_version(wanted, observed),
                expected,
                "spec {wanted}, AWS {observed}"
            );
        }
    }

    #[test]
    fn a_version_the_rule_cannot_read_is_satisfied_only_by_itself() {
        assert_eq!(
            check_version("7.0-beta", "7.0-beta"),
            VersionCheck::Satisfied
        );
        assert_eq!(check_version("7.0-beta", "7.0.7"), VersionCheck::Upgrade);
    }

    /// Source: the ElastiCache guide "Parameter groups: Valkey and Redis OSS
    /// parameters" (families redis2.8 … redis6.x, redis7, valkey7, valkey8; defaults
    /// `default.<family>` and `default.<family>.cluster.on`).
    #[test]
    fn table_of_cluster_mode_parameter_groups() {
        let cases = [
            (
                CacheEngine::Valkey,
                "8.0",
                Some("default.valkey8.cluster.on"),
            ),
            (
                CacheEngine::Valkey,
                "7.2",
                Some("default.valkey7.cluster.on"),
            ),
            (CacheEngine::Redis, "7.1", Some("default.redis7.cluster.on")),
            (CacheEngine::Redis, "7.0", Some("default.redis7.cluster.on")),
            (
                CacheEngine::Redis,
                "6.x",
                Some("default.redis6.x.cluster.on"),
            ),
            (
                CacheEngine::Redis,
                "6.2",
                Some("default.redis6.x.cluster.on"),
            ),
            (
                CacheEngine::Redis,
                "5.0.6",
                Some("default.redis5.0.cluster.on"),
            ),
            (
                CacheEngine::Redis,
                "3.2.10",
                Some("default.redis3.2.cluster.on"),
            ),
            (CacheEngine::Redis, "5", None),
            (CacheEngine::Redis, "x", None),
        ];
        for (engine, version, expected) in cases {
            assert_eq!(
                cluster_mode_parameter_group(engine, version).as_deref(),
                expected,
                "{engine:?} {version}"
            );
        }
    }
}
