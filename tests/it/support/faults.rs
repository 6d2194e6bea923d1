//! AWS failing, for the operator tests: a running operator whose AWS endpoint is the
//! `aws-faults` proxy in front of a private `moto_server`, with rules by action and a
//! fixed seed, and the reads the fault tests share (objects of either data-tier kind by
//! name, their AWS ids, whether they are Ready, what AWS holds, the calls the proxy
//! saw).

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use aws_faults::{Proxy, Rule};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tiered::api::ManagedDatabase;
use tiered::api::replication::ReplicationRole;
use tiered::aws::naming::{elasticache_replication_group_id, rds_instance_identifier};

use super::aws_reads::instance_ids;
use super::data_tier::operator::{NS, condition};
use super::data_tier::{Kind, merged, object};
use super::moto::{MotoServer, aws_config_at};
use super::operator::{Running, emulator, launch_with_aws, secret_text, test_config};

/// The fault `rules` as written (`Action:lose=1`, …).
pub fn rules(texts: &[&str]) -> Vec<Rule> {
    texts
        .iter()
        .map(|text| Rule::parse(text).unwrap_or_else(|e| panic!("rule {text}: {e}")))
        .collect()
}

/// An operator on [`NS`] whose AWS is a fault layer in front of moto.
pub struct Faulty {
    pub op: Running,
    pub proxy: Proxy,
    pub moto: MotoServer,
}

/// Starts moto, the fault layer with `rules` and `seed`, and an operator on [`NS`]
/// resyncing every `resync`.
pub async fn start(rules: Vec<Rule>, seed: u64, resync: Duration) -> Faulty {
    let moto = MotoServer::start();
    let proxy = Proxy::start(
        "127.0.0.1:0".parse().unwrap(),
        &moto.endpoint(),
        rules,
        seed,
    )
    .await
    .expect("the fault layer starts");
    let emulator = emulator(&[NS], false).await;
    let client = emulator.client();
    let mut config = test_config(&[NS]);
    config.resync = resync;
    let instance = launch_with_aws(client.clone(), config, &aws_config_at(&proxy.endpoint())).await;
    Faulty {
        op: Running {
            emulator,
            client,
            shutdown: instance.shutdown,
            http: instance.http,
            task: instance.task,
        },
        proxy,
        moto,
    }
}

/// The AWS id of the object `name` of kind `K` in [`NS`] (cluster `test`).
pub fn aws_id<K: Kind>(name: &str) -> String {
    if K::CONTROLLER == tiered::controllers::managed_database::CONTROLLER {
        rds_instance_identifier("test", NS, name)
    } else {
        elasticache_replication_group_id("test", NS, name)
    }
}

impl Faulty {
    /// Creates the object `name` of kind `K` with the operator tests' spec and `extra`.
    pub async fn create<K: Kind>(&self, name: &str, extra: &Value) {
        let spec = merged(K::manifest_spec(), extra);
        let api: Api<K::Object> = Api::namespaced(self.op.client.clone(), NS);
        api.create(&PostParams::default(), &object::<K>(NS, name, &spec))
            .await
            .expect("create");
    }

    /// Whether the object `name` of kind `K` is Ready.
    pub async fn is_ready<K: Kind>(&self, name: &str) -> bool {
        self.ready_condition::<K>(name)
            .await
            .is_some_and(|(status, _, _)| status == "True")
    }

    /// The `Ready` condition of the object `name` of kind `K`, for messages.
    pub async fn ready_condition<K: Kind>(&self, name: &str) -> Option<(String, String, String)> {
        let api: Api<K::Object> = Api::namespaced(self.op.client.clone(), NS);
        api.get_opt(name)
            .await
            .ok()
            .flatten()
            .and_then(|object| condition::<K>(&object, "Ready"))
    }

    /// Database instances in moto whose id starts with `id` (the primary and its replicas).
    pub async fn instances(&self, id: &str) -> Vec<String> {
        instance_ids(&super::moto::rds_client(&self.moto), id).await
    }

    /// The ids of the resources of kind `K` in moto whose id starts with `id`
    /// (instances with their replicas, or replication groups).
    pub async fn resources<K: Kind>(&self, id: &str) -> Vec<String> {
        if K::CONTROLLER == tiered::controllers::managed_database::CONTROLLER {
            self.instances(id).await
        } else {
            let elasticache = super::moto::elasticache_client(&self.moto);
            let described = elasticache
                .describe_replication_groups()
                .send()
                .await
                .expect("describe");
            let mut ids =
                super::moto::ids_of(described.replication_groups(), |g| g.replication_group_id());
            ids.retain(|found| found.starts_with(id));
            ids.sort();
            ids
        }
    }

    /// Replication groups in moto whose id is `id`, with their status.
    pub async fn groups(&self, id: &str) -> Vec<(String, String)> {
        let elasticache = super::moto::elasticache_client(&self.moto);
        elasticache
            .describe_replication_groups()
            .send()
            .await
            .expect("describe")
            .replication_groups()
            .iter()
            .filter(|g| g.replication_group_id() == Some(id))
            .map(|g| {
                (
                    g.replication_group_id().unwrap_or_default().to_owned(),
                    g.status().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// Calls of `action` that reached moto, for any resource.
    pub fn reached(&self, action: &str) -> usize {
        self.proxy
            .calls()
            .all()
            .iter()
            .filter(|call| call.action == action && call.fate.reached_aws())
            .count()
    }

    /// Calls of `action` the proxy saw, whatever their fate, for any resource.
    pub fn seen(&self, action: &str) -> usize {
        self.proxy
            .calls()
            .all()
            .iter()
            .filter(|call| call.action == action)
            .count()
    }

    /// Mutating calls that reached moto, for any resource.
    pub fn mutating(&self) -> usize {
        self.proxy
            .calls()
            .all()
            .iter()
            .filter(|call| call.fate.reached_aws() && call.is_mutating())
            .count()
    }

    /// Checks that no mutating call reaches AWS over `window` (`what`: the converged
    /// objects, for the message).
    pub async fn assert_quiet(&self, window: Duration, what: &str) {
        let before = self.mutating();
        tokio::time::sleep(window).await;
        assert_eq!(
            self.mutating(),
            before,
            "{what}: converged, no more mutating calls"
        );
    }

    /// What the proxy saw of the object `name` of kind `K`, for failure messages.
    pub fn figures<K: Kind>(&self, name: &str) -> String {
        let id = aws_id::<K>(name);
        let calls = self.proxy.calls();
        format!(
            "{name} ({id}): {:?}; most mutating calls in any minute: {}",
            calls.by_action(&id),
            calls.most_mutating_per_minute(&id)
        )
    }

    /// Waits up to `limit` until the object `name` of kind `K` is Ready and `more`
    /// holds; panics with its condition and what the proxy saw of it otherwise.
    pub async fn wait_ready_and<K, F, Fut>(&self, name: &str, limit: Duration, mut more: F)
    where
        K: Kind,
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let deadline = Instant::now() + limit;
        while !(self.is_ready::<K>(name).await && more().await) {
            assert!(
                Instant::now() < deadline,
                "{name} not Ready within {limit:?}: {:?}; {}",
                self.ready_condition::<K>(name).await,
                self.figures::<K>(name)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits up to `limit` until the object `name` of kind `K` is Ready (as
    /// [`Faulty::wait_ready_and`]).
    pub async fn wait_ready_within<K: Kind>(&self, name: &str, limit: Duration) {
        self.wait_ready_and::<K, _, _>(name, limit, || async { true })
            .await;
    }

    /// The ManagedDatabase `name`.
    pub async fn database(&self, name: &str) -> ManagedDatabase {
        let api: Api<ManagedDatabase> = Api::namespaced(self.op.client.clone(), NS);
        api.get(name).await.expect("get the ManagedDatabase")
    }

    /// The status of the ManagedDatabase `name`, which must have one.
    pub async fn database_status(&self, name: &str) -> tiered::api::ManagedDatabaseStatus {
        self.database(name)
            .await
            .status
            .unwrap_or_else(|| panic!("{name} has no status"))
    }

    /// The replication role the ManagedDatabase `name` reports.
    pub async fn role(&self, name: &str) -> Option<ReplicationRole> {
        self.database(name)
            .await
            .status
            .and_then(|status| status.replication)
            .map(|replication| replication.role)
    }

    /// The connection Secret of the object `name` as text, if there is one.
    pub async fn connection(&self, name: &str) -> Option<BTreeMap<String, String>> {
        let secrets: Api<Secret> = Api::namespaced(self.op.client.clone(), NS);
        secrets
            .get_opt(&format!("{name}-connection"))
            .await
            .expect("get the Secret")
            .map(|secret| secret_text(&secret))
    }

    /// Asks for the promotion of the replica `name` (`spec.replicaOf.promote: true`).
    pub async fn promote(&self, name: &str) {
        self.patch_database(name, json!({"spec": {"replicaOf": {"promote": true}}}))
            .await;
    }

    /// Merge-patches the ManagedDatabase `name` with `patch`.
    pub async fn patch_database(&self, name: &str, patch: Value) {
        let api: Api<ManagedDatabase> = Api::namespaced(self.op.client.clone(), NS);
        api.patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .expect("patch the ManagedDatabase");
    }
}
