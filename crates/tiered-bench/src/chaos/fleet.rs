//! The chaos fleet: per unit of `--size`, three ManagedDatabases (no replica, one, two;
//! `Snapshot` and `Delete` policies), two CacheClusters (one shard; cluster mode with two
//! shards) and two TieredApps using them; the edit each object gets (class, replicas,
//! tags, tiers) and how the driver reads an object's state. Specs and edits are pure.

use kube::Api;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tiered::api::{CacheCluster, ManagedDatabase, TieredApp};
use tiered::aws::naming::{elasticache_replication_group_id, rds_instance_identifier};

use super::operator::{CLUSTER, NAMESPACE};
use crate::BenchResult;

/// The three kinds the fleet holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A ManagedDatabase (RDS).
    Database,
    /// A CacheCluster (ElastiCache).
    Cache,
    /// A TieredApp.
    App,
}

impl Kind {
    /// The API resource of the kind.
    pub fn resource(self) -> ApiResource {
        match self {
            Self::Database => ApiResource::erase::<ManagedDatabase>(&()),
            Self::Cache => ApiResource::erase::<CacheCluster>(&()),
            Self::App => ApiResource::erase::<TieredApp>(&()),
        }
    }

    /// Short name for the figures.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Database => "database",
            Self::Cache => "cache",
            Self::App => "app",
        }
    }
}

/// One object of the fleet: its spec at creation and the merge patch of its edit.
#[derive(Debug, Clone)]
pub struct Member {
    /// Kind.
    pub kind: Kind,
    /// Name in [`NAMESPACE`].
    pub name: String,
    /// Spec at creation.
    pub spec: Value,
    /// JSON merge patch of `spec` in the edit phase.
    pub edit: Value,
}

impl Member {
    /// The AWS id of a database or cache (`None` for an app).
    pub fn aws_id(&self) -> Option<String> {
        match self.kind {
            Kind::Database => Some(rds_instance_identifier(CLUSTER, NAMESPACE, &self.name)),
            Kind::Cache => Some(elasticache_replication_group_id(
                CLUSTER, NAMESPACE, &self.name,
            )),
            Kind::App => None,
        }
    }

    /// Read replicas the spec asks for (before or after the edit).
    pub fn read_replicas(&self, edited: bool) -> usize {
        let from = |spec: &Value| {
            spec.pointer("/highAvailability/readReplicas")
                .and_then(Value::as_u64)
        };
        let count = if edited { from(&self.edit) } else { None };
        count
            .or_else(|| from(&self.spec))
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0)
    }

    /// Whether deleting it must leave a final snapshot (databases whose policy is
    /// `Snapshot`; moto ignores ElastiCache's final snapshot, so caches are not checked).
    pub fn needs_final_snapshot(&self) -> bool {
        self.kind == Kind::Database && self.spec["deletionPolicy"] == "Snapshot"
    }

    /// The object as created.
    pub fn manifest(&self) -> BenchResult<DynamicObject> {
        let resource = self.kind.resource();
        Ok(serde_json::from_value(json!({
            "apiVersion": resource.api_version,
            "kind": resource.kind,
            "metadata": {"name": self.name, "namespace": NAMESPACE},
            "spec": self.spec,
        }))?)
    }
}

fn database(name: String, replicas: u32, policy: &str, edit: Value) -> Member {
    Member {
        kind: Kind::Database,
        name,
        spec: json!({
            "engine": "postgres",
            "engineVersion": "16.4",
            "instanceClass": "db.t4g.micro",
            "storage": {"allocatedGiB": 20, "type": "gp3"},
            "highAvailability": {"readReplicas": replicas},
            "databaseName": "app",
            "masterUsername": "app",
            "backup": {"retentionDays": 1},
            "applyImmediately": true,
            "deletionPolicy": policy,
            "deletionProtection": false,
            "tags": {"team": "chaos"}
        }),
        edit,
    }
}

fn cache(name: String, shards: u32, policy: &str) -> Member {
    Member {
        kind: Kind::Cache,
        name,
        spec: json!({
            "engine": "valkey",
            "engineVersion": "8.0",
            "nodeType": "cache.t4g.micro",
            "replicasPerShard": 1,
            "shards": shards,
            "automaticFailover": true,
            "multiAZ": true,
            "transitEncryption": true,
            "applyImmediately": true,
            "deletionPolicy": policy,
            "tags": {"team": "chaos"}
        }),
        // moto has no Increase/DecreaseReplicaCount (TESTING.md): the cache edit changes
        // the node type and the tags, not the replica count.
        edit: json!({"nodeType": "cache.t4g.small", "tags": {"team": null, "env": "chaos"}}),
    }
}

fn tier(name: &str, role: &str, data: Option<(&str, &str)>) -> Value {
    let mut tier = json!({
        "name": name,
        "role": role,
        "image": format!("ghcr.io/acme/{name}:1.0.0"),
        "replicas": 2
    });
    if role != "worker" {
        tier["port"] = json!(8080);
        tier["healthCheck"] = json!({"path": "/health"});
    }
    if let Some((db, cache)) = data {
        tier["database"] = json!({"ref": db});
        tier["cache"] = json!({"ref": cache});
    }
    tier
}

fn app(name: String, db: &str, cache: &str, tiers_before: &[&str], tiers_after: &[&str]) -> Member {
    let tiers = |names: &[&str]| -> Value {
        names
            .iter()
            .map(|tier_name| match *tier_name {
                "web" => tier("web", "presentation", None),
                "api" => tier("api", "application", Some((db, cache))),
                other => tier(other, "worker", Some((db, cache))),
            })
            .collect()
    };
    Member {
        kind: Kind::App,
        name,
        spec: json!({"tiers": tiers(tiers_before)}),
        edit: json!({"tiers": tiers(tiers_after)}),
    }
}

/// `size` units of the fleet, databases and caches first.
pub fn fleet(size: usize) -> Vec<Member> {
    let mut members = Vec::new();
    for unit in 1..=size {
        let (db_a, db_b, db_c) = (
            format!("db-a{unit}"),
            format!("db-b{unit}"),
            format!("db-c{unit}"),
        );
        let (cache_a, cache_b) = (format!("cache-a{unit}"), format!("cache-b{unit}"));
        members.push(database(
            db_a.clone(),
            0,
            "Snapshot",
            json!({"instanceClass": "db.t4g.small", "highAvailability": {"readReplicas": 1},
                   "tags": {"env": "chaos"}}),
        ));
        members.push(database(
            db_b.clone(),
            1,
            "Snapshot",
            json!({"instanceClass": "db.t4g.small", "highAvailability": {"readReplicas": 2},
                   "tags": {"team": null, "env": "chaos"}}),
        ));
        members.push(database(
            db_c,
            2,
            "Delete",
            json!({"highAvailability": {"readReplicas": 1}, "tags": {"team": "chaos-2"}}),
        ));
        members.push(cache(cache_a.clone(), 1, "Delete"));
        members.push(cache(cache_b.clone(), 2, "Snapshot"));
        members.push(app(
            format!("app-a{unit}"),
            &db_a,
            &cache_a,
            &["web", "api"],
            &["web", "api", "worker"],
        ));
        members.push(app(
            format!("app-b{unit}"),
            &db_b,
            &cache_b,
            &["web", "api", "worker"],
            &["web", "api"],
        ));
    }
    members
}

/// What the driver sees of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Not in the API.
    Gone,
    /// `Ready=True` for the current generation.
    Ready,
    /// Anything else, with the `Ready` condition's reason and message if any.
    Pending(String),
}

/// The API of `kind` in [`NAMESPACE`].
pub fn api(client: &kube::Client, kind: Kind) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), NAMESPACE, &kind.resource())
}

/// Reads `member`'s state (an error of the read is `Pending`, never fatal: the
/// emulator is injecting faults).
pub async fn state(client: &kube::Client, member: &Member) -> State {
    match api(client, member.kind).get_opt(&member.name).await {
        Ok(None) => State::Gone,
        Ok(Some(object)) => state_of(&object),
        Err(error) => State::Pending(format!("read failed: {error}")),
    }
}

/// Ready for the current generation, from the object.
pub fn state_of(object: &DynamicObject) -> State {
    let status = &object.data["status"];
    let generation = object.metadata.generation;
    let observed = status["observedGeneration"].as_i64();
    let ready = status["conditions"]
        .as_array()
        .and_then(|conditions| conditions.iter().find(|c| c["type"] == "Ready"));
    match ready {
        Some(c) if c["status"] == "True" && observed == generation => State::Ready,
        Some(c) => State::Pending(format!(
            "Ready={} {}: {} (generation {generation:?}, observed {observed:?})",
            c["status"].as_str().unwrap_or("?"),
            c["reason"].as_str().unwrap_or(""),
            c["message"].as_str().unwrap_or("")
        )),
        None => State::Pending("no Ready condition yet".to_owned()),
    }
}

/// Creates `member`, retrying what the injected faults refuse (an `AlreadyExists` after
/// a lost answer counts as created).
pub async fn create(client: &kube::Client, member: &Member) -> BenchResult<()> {
    let manifest = member.manifest()?;
    retry(&format!("create {}", member.name), || async {
        match api(client, member.kind)
            .create(&PostParams::default(), &manifest)
            .await
        {
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
            other => other.map(|_| ()),
        }
    })
    .await
}

/// Applies `member`'s edit (a JSON merge patch of the spec).
pub async fn edit(client: &kube::Client, member: &Member) -> BenchResult<()> {
    let patch = json!({"spec": member.edit});
    retry(&format!("edit {}", member.name), || async {
        api(client, member.kind)
            .patch(&member.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map(|_| ())
    })
    .await
}

/// Deletes `member` (already gone is fine).
pub async fn delete(client: &kube::Client, member: &Member) -> BenchResult<()> {
    retry(&format!("delete {}", member.name), || async {
        match api(client, member.kind)
            .delete(&member.name, &kube::api::DeleteParams::default())
            .await
        {
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            other => other.map(|_| ()),
        }
    })
    .await
}

/// Runs `call` until it succeeds, at most 50 times 200 ms apart (the emulator answers
/// some requests 409 or 500 on purpose); a 422 ends it at once.
pub async fn retry<F, Fut>(what: &str, mut call: F) -> BenchResult<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), kube::Error>>,
{
    let mut last = None;
    for _ in 0..50 {
        match call().await {
            Ok(()) => return Ok(()),
            // Invalid input is the driver's bug: no retry makes it valid.
            Err(kube::Error::Api(status)) if status.code == 422 => {
                return Err(format!("failed to {what}: {}", status.message).into());
            }
            Err(error) => last = Some(error),
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    Err(format!("failed to {what} in 50 attempts: {last:?}").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unit_mixes_replicas_cluster_mode_and_apps_using_them() {
        let fleet = fleet(1);
        let count = |kind| fleet.iter().filter(|m| m.kind == kind).count();
        assert_eq!(
            (count(Kind::Database), count(Kind::Cache), count(Kind::App)),
            (3, 2, 2)
        );
        let replicas: Vec<(usize, usize)> = fleet
            .iter()
            .filter(|m| m.kind == Kind::Database)
            .map(|m| (m.read_replicas(false), m.read_replicas(true)))
            .collect();
        assert_eq!(replicas, [(0, 1), (1, 2), (2, 1)]);
        assert_eq!(fleet.iter().filter(|m| m.needs_final_snapshot()).count(), 2);
        assert!(fleet.iter().any(|m| m.spec["shards"] == 2));
        for member in &fleet {
            let manifest = member.manifest().unwrap();
            assert_eq!(manifest.metadata.namespace.as_deref(), Some(NAMESPACE));
        }
    }

    #[test]
    fn ready_means_ready_for_the_current_generation() {
        let object = |observed: i64, status: &str| -> DynamicObject {
            serde_json::from_value(json!({
                "apiVersion": "tiered.io/v1alpha1", "kind": "CacheCluster",
                "metadata": {"name": "c", "generation": 2},
                "status": {"observedGeneration": observed,
                           "conditions": [{"type": "Ready", "status": status}]}
            }))
            .unwrap()
        };
        assert_eq!(state_of(&object(2, "True")), State::Ready);
        assert!(matches!(state_of(&object(1, "True")), State::Pending(_)));
        assert!(matches!(state_of(&object(2, "False")), State::Pending(_)));
    }
}
