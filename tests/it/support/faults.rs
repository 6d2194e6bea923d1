//! AWS failing, for the operator tests: a running operator whose AWS endpoint is the
//! `aws-faults` proxy in front of a private `moto_server`, with rules by action and a
//! fixed seed, and the reads the fault tests share (objects of either data-tier kind by
//! name, their AWS ids, whether they are Ready, what AWS holds).

use std::time::Duration;

use aws_faults::{Proxy, Rule};
use kube::Api;
use kube::api::PostParams;
use serde_json::Value;
use tiered::aws::naming::{elasticache_replication_group_id, rds_instance_identifier};

use super::data_tier::operator::{NS, condition};
use super::data_tier::{Kind, merged, object};
use super::moto::{MotoServer, aws_config_at};
use super::operator::{Running, emulator, launch_with_aws, test_config};

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
        let rds = super::moto::rds_client(&self.moto);
        let mut ids: Vec<String> = rds
            .describe_db_instances()
            .send()
            .await
            .expect("describe")
            .db_instances()
            .iter()
            .filter_map(|i| i.db_instance_identifier())
            .filter(|found| found.starts_with(id))
            .map(str::to_owned)
            .collect();
        ids.sort();
        ids
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
}
