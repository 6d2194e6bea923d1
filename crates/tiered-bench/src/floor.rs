//! The floor of the scale run: what a plain client needs to create the same apps and
//! issue the same server-side apply writes (the builders' desired children, with the
//! operator's owner reference, hash annotation and field manager), at the same
//! concurrency, with nothing to watch, compare or write status for.

use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::Value;
use tiered::api::TieredApp;
use tiered::controllers::tiered_app::apply::prepare;
use tiered::controllers::tiered_app::build::{
    Child, ChildVisitor, Wiring, desired_children, owner_reference,
};
use tiered::runtime::context::FIELD_MANAGER;

use crate::tasks;
use crate::workload::{self, NAMESPACE};
use crate::{BenchError, BenchResult};

/// The server-side apply writes of one app, prepared as the operator prepares them
/// (owner reference, hash annotation), in its kind order.
struct Writes<'a> {
    owner: &'a OwnerReference,
    writes: Vec<(ApiResource, String, Value)>,
}

impl ChildVisitor for Writes<'_> {
    type Error = BenchError;

    fn visit<K: Child>(&mut self, _: &'static str, objects: &[K]) -> BenchResult<()> {
        for object in objects {
            let value = prepare(object, self.owner)?;
            self.writes
                .push((ApiResource::erase::<K>(&()), object.name_any(), value));
        }
        Ok(())
    }
}

/// Creates app `index` and applies its children, in the operator's kind order.
async fn create_and_apply(client: &kube::Client, index: usize) -> BenchResult<()> {
    let apps: Api<TieredApp> = Api::namespaced(client.clone(), NAMESPACE);
    let created = apps
        .create(&PostParams::default(), &workload::app(index)?)
        .await?;
    let validated = workload::validated(&created)?;
    let owner = owner_reference(&validated).ok_or("the created app has no uid")?;
    let mut writes = Writes {
        owner: &owner,
        writes: Vec::new(),
    };
    desired_children(&validated, &Wiring::default()).visit(&mut writes)?;
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for (resource, name, value) in writes.writes {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), NAMESPACE, &resource);
        api.patch(&name, &params, &Patch::Apply(&value)).await?;
    }
    Ok(())
}

/// Runs the floor on a fresh emulator: `apps` apps over `concurrency` tasks. Returns
/// the wall time from the first create to the last apply.
pub async fn run(apps: usize, concurrency: usize) -> BenchResult<Duration> {
    let emulator = workload::start_emulator().await?;
    let client = emulator.client();
    let start = Instant::now();
    tasks::for_each_index(apps, concurrency, move |index| {
        let client = client.clone();
        async move { create_and_apply(&client, index).await }
    })
    .await?;
    let elapsed = start.elapsed();
    let per_app = workload::children_per_app()?;
    let stored = workload::stored_children(&emulator);
    emulator.shutdown().await;
    if stored.iter().sum::<usize>() != per_app.iter().sum::<usize>() * apps {
        return Err(
            format!("the floor stored {stored:?} children, not {per_app:?} per app").into(),
        );
    }
    Ok(elapsed)
}
