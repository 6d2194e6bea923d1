//! The record of every call the proxy saw: its AWS action, the resource it names, what
//! the proxy did with it and when, and counts over that record (per action, per
//! resource, mutating calls per sliding minute) for tests to assert on. Pure apart
//! from the lock.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What the proxy did with a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Fate {
    /// Forwarded; AWS's answer returned.
    Passed,
    /// Answered 400 `Throttling`; AWS never saw it.
    Throttled,
    /// Answered 500 `InternalFailure`; AWS never saw it.
    Failed,
    /// Answered 403 `AccessDenied`; AWS never saw it.
    Denied,
    /// Forwarded (AWS acted), then answered 500 `InternalFailure`.
    Lost,
}

impl Fate {
    /// Whether AWS saw (and acted on) the call.
    pub const fn reached_aws(self) -> bool {
        matches!(self, Self::Passed | Self::Lost)
    }
}

/// One call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    /// Time since the proxy started.
    #[serde(with = "millis")]
    pub at: Duration,
    /// The `Action=` parameter (empty when the request had none).
    pub action: String,
    /// The resource the call names (see [`resource_of`]); empty for a call naming none
    /// (a fleet-wide describe).
    pub resource: String,
    /// What the proxy did.
    pub fate: Fate,
}

impl Call {
    /// Whether the action changes something (anything but `Describe*`, `List*`, `Get*`).
    pub fn is_mutating(&self) -> bool {
        !["Describe", "List", "Get"]
            .iter()
            .any(|prefix| self.action.starts_with(prefix))
    }

    /// Whether the call names `id` or one of its read replicas (`<id>-r<n>`), or a
    /// final snapshot of it (`<id>-final-…`): everything that belongs to one object.
    pub fn belongs_to(&self, id: &str) -> bool {
        self.resource
            .strip_prefix(id)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(u64::try_from(value.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_millis)
    }
}

/// The resource a query-protocol request names, from its form `params`: the instance,
/// replication group or cache cluster id, else the last part of a tag call's ARN.
pub fn resource_of<'a>(params: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    const ID_KEYS: [&str; 4] = [
        "DBInstanceIdentifier",
        "ReplicationGroupId",
        "CacheClusterId",
        "ResourceName",
    ];
    let mut found: BTreeMap<usize, &str> = BTreeMap::new();
    for (key, value) in params {
        if let Some(rank) = ID_KEYS.iter().position(|k| *k == key) {
            found.entry(rank).or_insert(value);
        }
    }
    found
        .into_values()
        .next()
        .map_or_else(String::new, |value| {
            // `arn:aws:rds:us-east-1:123456789012:db:<id>` names `<id>`.
            value.rsplit(':').next().unwrap_or(value).to_owned()
        })
}

/// The shared record; cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Calls {
    inner: Arc<Mutex<Vec<Call>>>,
}

impl Calls {
    /// The calls, also after a panic elsewhere while they were held (a record stays
    /// readable).
    fn lock(&self) -> MutexGuard<'_, Vec<Call>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `call`.
    pub fn push(&self, call: Call) {
        self.lock().push(call);
    }

    /// Every call so far, in arrival order.
    pub fn all(&self) -> Vec<Call> {
        self.lock().clone()
    }

    /// Forgets every call (e.g. after a set-up phase).
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Calls of `action` that belong to the object whose resource is `id` (see
    /// [`Call::belongs_to`]), whatever their fate.
    pub fn count(&self, action: &str, id: &str) -> usize {
        self.all()
            .iter()
            .filter(|call| call.action == action && call.belongs_to(id))
            .count()
    }

    /// Calls of `action` that belong to `id` and reached AWS.
    pub fn reached(&self, action: &str, id: &str) -> usize {
        self.all()
            .iter()
            .filter(|call| call.action == action && call.belongs_to(id) && call.fate.reached_aws())
            .count()
    }

    /// Calls per action of the object `id` (all fates).
    pub fn by_action(&self, id: &str) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for call in self.all().iter().filter(|call| call.belongs_to(id)) {
            *counts.entry(call.action.clone()).or_insert(0) += 1;
        }
        counts
    }

    /// The most mutating calls the object `id` made within any 60 s.
    pub fn most_mutating_per_minute(&self, id: &str) -> usize {
        most_in_window(
            self.all()
                .iter()
                .filter(|call| call.is_mutating() && call.belongs_to(id))
                .map(|call| call.at),
            Duration::from_mins(1),
        )
    }
}

/// The most of `times` (ascending) within any half-open `window`.
pub fn most_in_window(times: impl Iterator<Item = Duration>, window: Duration) -> usize {
    let times: Vec<Duration> = times.collect();
    let mut most = 0;
    let mut start = 0;
    for (end, at) in times.iter().enumerate() {
        while *at >= times[start] + window {
            start += 1;
        }
        most = most.max(end + 1 - start);
    }
    most
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resource_is_the_id_a_call_names() {
        let pairs = [
            ("Action", "DeleteDBInstance"),
            ("DBInstanceIdentifier", "db-1-r1"),
        ];
        assert_eq!(resource_of(pairs.into_iter()), "db-1-r1");
        let tags = [(
            "ResourceName",
            "arn:aws:elasticache:us-east-1:1:replicationgroup:c-1",
        )];
        assert_eq!(resource_of(tags.into_iter()), "c-1");
        assert_eq!(
            resource_of([("Action", "DescribeDBInstances")].into_iter()),
            ""
        );
        let replica = [
            ("SourceDBInstanceIdentifier", "db-1"),
            ("DBInstanceIdentifier", "db-1-r2"),
        ];
        assert_eq!(resource_of(replica.into_iter()), "db-1-r2");
    }

    #[test]
    fn an_object_owns_its_id_and_what_is_named_after_it_but_not_a_longer_name() {
        let call = |resource: &str| Call {
            at: Duration::ZERO,
            action: "CreateDBInstanceReadReplica".into(),
            resource: resource.into(),
            fate: Fate::Lost,
        };
        assert!(call("db-1").belongs_to("db-1"));
        assert!(call("db-1-r1").belongs_to("db-1"));
        assert!(!call("db-10").belongs_to("db-1"));
        assert!(!call("db-2").belongs_to("db-1"));
        assert!(call("db-1").is_mutating());
    }

    #[test]
    fn the_busiest_minute_counts_calls_in_any_sixty_seconds() {
        let secs = |list: &[u64]| {
            list.iter()
                .map(|s| Duration::from_secs(*s))
                .collect::<Vec<_>>()
        };
        let window = Duration::from_mins(1);
        assert_eq!(most_in_window(secs(&[]).into_iter(), window), 0);
        assert_eq!(
            most_in_window(secs(&[0, 10, 59, 60, 61]).into_iter(), window),
            4
        );
        assert_eq!(
            most_in_window(secs(&[0, 100, 101, 102, 170]).into_iter(), window),
            3
        );
    }
}
