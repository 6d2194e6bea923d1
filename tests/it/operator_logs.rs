//! The JSON log of the `tiered run` binary as a log pipeline reads it (Fluent Bit into
//! Elasticsearch or Loki): through a database's create and deletion and an app's
//! rollout, every line is one JSON object with no key twice at any depth
//! (Elasticsearch refuses such a line whole, and most readers keep only one of the
//! values), a reconcile's lines name their object in the span, optional values are
//! plain (no Rust `Some(…)`), and the generated password never appears.

use crate::harness_kubectl::Kubectl;
use crate::support;

use std::collections::BTreeSet;
use std::fmt;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::DeleteParams;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Value, json};
use support::data_tier::{Kind, merged, object};
use support::moto::MotoServer;
use support::operator::{
    condition, emulator, eventually, eventually_gone, find_condition, secret_text, two_tier_app,
};
use support::process::OperatorProcess;
use tiered::api::{ManagedDatabase, TieredApp};
use tiered::controllers::managed_database::Rds;

const NS: &str = "shop";
const DB: &str = "orders";

/// A JSON document read as a log pipeline would, refusing a key repeated in one
/// object (serde_json's `Value` silently keeps the last one).
struct NoDuplicateKeys;

impl<'de> de::Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NoDuplicateKeys)
    }
}

impl<'de> Visitor<'de> for NoDuplicateKeys {
    type Value = Self;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(Self)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(Self)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(Self)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(Self)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(Self)
    }
    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(Self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<Self>()?.is_some() {}
        Ok(Self)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        let mut keys = BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !keys.insert(key.clone()) {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
            map.next_value::<Self>()?;
        }
        Ok(Self)
    }
}

/// Every string in `value`, at any depth.
fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        Value::Object(map) => map.values().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_log_has_no_duplicate_keys_names_the_object_and_hides_the_password() {
    let moto = MotoServer::start();
    let emulator = emulator(&[NS], true).await;
    let kubectl = Kubectl::new(&emulator);
    let mut operator = OperatorProcess::start_on_moto(&kubectl.kubeconfig, &moto).await;
    let client = emulator.client();

    let spec = merged(
        <Rds as Kind>::manifest_spec(),
        &json!({"deletionPolicy": "Delete"}),
    );
    let database = serde_norway::to_string(&object::<Rds>(NS, DB, &spec)).unwrap();
    let app = serde_norway::to_string(&two_tier_app(NS)).unwrap();
    kubectl.accepted(&format!("{database}---\n{app}")).await;
    let databases: Api<ManagedDatabase> = Api::namespaced(client.clone(), NS);
    let apps: Api<TieredApp> = Api::namespaced(client.clone(), NS);
    eventually("the database and the app are Ready", || async {
        let db_ready = databases
            .get(DB)
            .await
            .unwrap()
            .status
            .and_then(|s| find_condition(&s.conditions, "Ready"))
            .is_some_and(|c| c.0 == "True");
        let app_ready =
            condition(&apps.get("newsread").await.unwrap(), "Ready").is_some_and(|c| c.0 == "True");
        db_ready && app_ready
    })
    .await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    let password = secret_text(&secrets.get(&format!("{DB}-connection")).await.unwrap())
        .remove("password")
        .unwrap();

    databases
        .delete(DB, &DeleteParams::default())
        .await
        .unwrap();
    eventually_gone("the database is deleted", &databases, DB).await;
    operator.terminate().await;

    let lines = operator.stdout_lines();
    let mut records = Vec::new();
    for line in &lines {
        if let Err(error) = serde_json::from_str::<NoDuplicateKeys>(line) {
            panic!("a log line a pipeline cannot read ({error}): {line}");
        }
        assert!(!line.contains(&password), "the password is logged: {line}");
        let record: Value = serde_json::from_str(line).unwrap();
        for text in strings(&record) {
            assert!(
                !text.starts_with("Some(") && text != "None",
                "a Rust Option in the log: {line}"
            );
        }
        records.push(record);
    }
    for (controller, name) in [("manageddatabase", DB), ("tieredapp", "newsread")] {
        let spans: Vec<&Value> = records
            .iter()
            .filter(|r| r["span"]["controller"] == controller)
            .map(|r| &r["span"])
            .collect();
        assert!(
            !spans.is_empty(),
            "{controller} logs inside its reconcile span"
        );
        assert!(
            spans.iter().all(|span| span["object"] == name),
            "every {controller} span names its object {name}: {spans:?}"
        );
    }
    for message in [
        "deleting",
        "deletion not finished; requeued",
        "cleanup done",
    ] {
        let record = records
            .iter()
            .find(|r| r["message"] == message)
            .unwrap_or_else(|| panic!("a {message:?} line in {lines:#?}"));
        if message != "deleting" {
            assert!(
                record["detail"].as_str().is_some_and(|d| !d.is_empty()),
                "the detail of {message:?} is its own field: {record}"
            );
        }
    }
    // Watching every namespace (no TIERED_NAMESPACES) is said as such, not as `[]`.
    let started = records
        .iter()
        .find(|r| r["message"] == "controllers started")
        .unwrap();
    assert_eq!(started["namespaces"], "all", "{started}");
    let stopped = records.iter().find(|r| r["message"] == "stopped").unwrap();
    assert_eq!(stopped["reason"], "Signal", "{stopped}");
}
