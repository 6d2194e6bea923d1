//! The chaos run's verdicts, pure over what was read: duplicates (AWS resources per
//! object beyond the spec), orphans (AWS resources left after delete), databases
//! deleted without their final snapshot, secret values found where they must never be,
//! panics in the operator's log, and AWS calls per object from the fault layer's record.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_faults::calls::most_in_window;
use aws_faults::{Call, Fate};

use super::aws::{Group, Instance};
use super::fleet::{Kind, Member};
use super::operator::{CLUSTER, NAMESPACE};

/// moto keeps a deleted replication group in this status for ever (TESTING.md).
const DELETED_GROUP_STATUS: &str = "deleting";

fn belongs(resource: &str, id: &str) -> bool {
    resource
        .strip_prefix(id)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
}

fn claims(instance: &Instance, name: &str) -> bool {
    instance.tags.get("tiered.io/name").map(String::as_str) == Some(name)
        && instance.tags.get("tiered.io/namespace").map(String::as_str) == Some(NAMESPACE)
        && instance.tags.get("tiered.io/cluster").map(String::as_str) == Some(CLUSTER)
}

/// One line per object that has more AWS resources than its spec asks for (after the
/// create phase: `edited` false; after the edit phase: true). A database owns the
/// instances named after it or tagged with its name; a cache its replication group.
pub fn duplicates(
    members: &[Member],
    edited: bool,
    instances: &[Instance],
    groups: &[Group],
) -> Vec<String> {
    let mut found = Vec::new();
    for member in members {
        let Some(id) = member.aws_id() else { continue };
        match member.kind {
            Kind::Database => {
                let mine: Vec<&str> = instances
                    .iter()
                    .filter(|i| belongs(&i.id, &id) || claims(i, &member.name))
                    .map(|i| i.id.as_str())
                    .collect();
                let expected = 1 + member.read_replicas(edited);
                if mine.len() > expected {
                    found.push(format!(
                        "database {}: {} instances where the spec asks for {expected}: {mine:?}",
                        member.name,
                        mine.len()
                    ));
                }
            }
            Kind::Cache => {
                let mine = groups
                    .iter()
                    .filter(|g| g.id == id && g.status != DELETED_GROUP_STATUS)
                    .count();
                if mine > 1 {
                    found.push(format!("cache {}: {mine} replication groups", member.name));
                }
            }
            Kind::App => {}
        }
    }
    found
}

/// AWS resources of this cluster left after every object was deleted.
pub fn orphans(instances: &[Instance], groups: &[Group]) -> Vec<String> {
    let prefix = format!("{CLUSTER}-");
    let mut found: Vec<String> = instances
        .iter()
        .filter(|i| {
            i.id.starts_with(&prefix)
                || i.tags.get("tiered.io/cluster").map(String::as_str) == Some(CLUSTER)
        })
        .map(|i| format!("DB instance {}", i.id))
        .collect();
    found.extend(
        groups
            .iter()
            .filter(|g| g.id.starts_with(&prefix) && g.status != DELETED_GROUP_STATUS)
            .map(|g| format!("replication group {} ({})", g.id, g.status)),
    );
    found
}

/// Databases with `deletionPolicy: Snapshot` that left no `<id>-final-…` snapshot.
pub fn missing_snapshots(members: &[Member], snapshots: &[String]) -> Vec<String> {
    members
        .iter()
        .filter(|m| m.needs_final_snapshot())
        .filter_map(|m| {
            let id = m.aws_id()?;
            let prefix = format!("{id}-final-");
            (!snapshots.iter().any(|s| s.starts_with(&prefix)))
                .then(|| format!("database {} ({id})", m.name))
        })
        .collect()
}

/// Each secret value (`owner` → value) found in each place (`place` → text).
pub fn leaks(secrets: &BTreeMap<String, String>, places: &[(String, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (owner, value) in secrets {
        // A value this short could match by chance; generated ones are long.
        if value.len() < 8 {
            continue;
        }
        for (place, text) in places {
            if text.contains(value.as_str()) {
                found.push(format!("{owner} in {place}"));
            }
        }
    }
    found
}

/// Lines of the operator's log that report a panic (the default hook's `panicked at`,
/// or the contained reconcile's "the operator panicked").
pub fn panics(log: &str) -> Vec<String> {
    log.lines()
        .filter(|line| line.contains("panicked"))
        .map(|line| line.chars().take(300).collect())
        .collect()
}

/// AWS calls of one object, from the fault layer's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectCalls {
    /// `kind name`.
    pub object: String,
    /// Every call naming it (its replicas and final snapshot included).
    pub total: usize,
    /// Mutating calls among them.
    pub mutating: usize,
    /// Calls throttled, failed or denied by the fault layer.
    pub refused: usize,
    /// Calls whose answer was lost after AWS acted.
    pub lost: usize,
    /// Most mutating calls in any 60 s.
    pub busiest_minute: usize,
    /// Those calls, `Action resource (fate)` in order.
    pub busiest_calls: Vec<String>,
}

/// Calls per AWS-backed object.
pub fn calls_per_object(members: &[Member], calls: &[Call]) -> Vec<ObjectCalls> {
    members
        .iter()
        .filter_map(|member| {
            let id = member.aws_id()?;
            let mine: Vec<&Call> = calls.iter().filter(|c| c.belongs_to(&id)).collect();
            let mutating_calls: Vec<&Call> =
                mine.iter().copied().filter(|c| c.is_mutating()).collect();
            let mutating: Vec<Duration> = mutating_calls.iter().map(|c| c.at).collect();
            let busiest_minute = most_in_window(mutating.iter().copied(), Duration::from_mins(1));
            let busiest_calls = busiest_window(&mutating_calls, busiest_minute);
            Some(ObjectCalls {
                object: format!("{} {}", member.kind.label(), member.name),
                total: mine.len(),
                mutating: mutating.len(),
                refused: mine
                    .iter()
                    .filter(|c| matches!(c.fate, Fate::Throttled | Fate::Failed | Fate::Denied))
                    .count(),
                lost: mine.iter().filter(|c| c.fate == Fate::Lost).count(),
                busiest_minute,
                busiest_calls,
            })
        })
        .collect()
}

/// The first run of `size` calls (in time order) that fits in 60 s, as text.
fn busiest_window(calls: &[&Call], size: usize) -> Vec<String> {
    if size == 0 {
        return Vec::new();
    }
    calls
        .windows(size)
        .find(|window| window[size - 1].at < window[0].at + Duration::from_mins(1))
        .map(|window| {
            window
                .iter()
                .map(|c| {
                    format!(
                        "{:.1}s {} {} ({:?})",
                        c.at.as_secs_f64(),
                        c.action,
                        c.resource,
                        c.fate
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::fleet::fleet;

    fn instance(id: &str, name: Option<&str>) -> Instance {
        let mut tags = BTreeMap::new();
        if let Some(name) = name {
            tags.insert("tiered.io/name".to_owned(), name.to_owned());
            tags.insert("tiered.io/namespace".to_owned(), NAMESPACE.to_owned());
            tags.insert("tiered.io/cluster".to_owned(), CLUSTER.to_owned());
        }
        Instance {
            id: id.to_owned(),
            tags,
        }
    }

    #[test]
    fn an_instance_beyond_primary_and_replicas_is_a_duplicate() {
        let members = fleet(1);
        let db_b = members.iter().find(|m| m.name == "db-b1").unwrap();
        let id = db_b.aws_id().unwrap();
        let exact = [instance(&id, None), instance(&format!("{id}-r1"), None)];
        assert!(duplicates(&members, false, &exact, &[]).is_empty());
        let extra = [
            instance(&id, None),
            instance(&format!("{id}-r1"), None),
            instance("someone-else", Some("db-b1")),
        ];
        let found = duplicates(&members, false, &extra, &[]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("db-b1"));
        // After the edit db-b1 asks for two replicas: three instances are right.
        assert!(duplicates(&members, true, &extra, &[]).is_empty());
    }

    #[test]
    fn what_this_cluster_left_is_an_orphan_but_a_deleting_group_is_gone() {
        let groups = [
            Group {
                id: "chaos-x".into(),
                status: "deleting".into(),
            },
            Group {
                id: "chaos-y".into(),
                status: "available".into(),
            },
            Group {
                id: "other-z".into(),
                status: "available".into(),
            },
        ];
        let instances = [instance("other", None), instance("x", Some("db-a1"))];
        let found = orphans(&instances, &groups);
        assert_eq!(
            found,
            ["DB instance x", "replication group chaos-y (available)"]
        );
    }

    #[test]
    fn a_snapshot_policy_database_without_its_final_snapshot_is_reported() {
        let members = fleet(1);
        let id_a = members[0].aws_id().unwrap();
        let snapshots = [format!("{id_a}-final-20260101000000")];
        let missing = missing_snapshots(&members, &snapshots);
        assert_eq!(missing.len(), 1, "{missing:?}");
        assert!(missing[0].contains("db-b1"));
    }

    #[test]
    fn leaks_and_panics_are_found_by_their_text() {
        let secrets = BTreeMap::from([("db-a1 password".to_owned(), "s3cretvalue".to_owned())]);
        let places = [
            ("log".to_owned(), "nothing here".to_owned()),
            ("events".to_owned(), "msg s3cretvalue".to_owned()),
        ];
        assert_eq!(leaks(&secrets, &places), ["db-a1 password in events"]);
        assert_eq!(
            panics("ok\nthread 'x' panicked at src/a.rs:1\nfine").len(),
            1
        );
    }

    #[test]
    fn calls_are_counted_per_object_with_the_busiest_minute() {
        let members = fleet(1);
        let id = members[0].aws_id().unwrap();
        let call = |secs: u64, action: &str, fate: Fate| Call {
            at: Duration::from_secs(secs),
            action: action.into(),
            resource: id.clone(),
            fate,
        };
        let record = [
            call(0, "CreateDBInstance", Fate::Lost),
            call(1, "DescribeDBInstances", Fate::Throttled),
            call(5, "CreateDBInstance", Fate::Passed),
            call(90, "ModifyDBInstance", Fate::Passed),
        ];
        let figures = calls_per_object(&members, &record);
        assert_eq!(
            figures[0],
            ObjectCalls {
                object: "database db-a1".into(),
                total: 4,
                mutating: 3,
                refused: 1,
                lost: 1,
                busiest_minute: 2,
                busiest_calls: vec![
                    format!("0.0s CreateDBInstance {id} (Lost)"),
                    format!("5.0s CreateDBInstance {id} (Passed)"),
                ],
            }
        );
        assert_eq!(figures[1].total, 0);
    }
}
