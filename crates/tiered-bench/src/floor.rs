//! The floor of the scale run: what a plain client needs to create the same apps and
//! issue the same server-side apply writes (the builders' desired children, with the
//! operator's owner reference, hash annotation and field manager), at the same
//! concurrency, with nothing to watch, compare or write status for.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tiered::api::TieredApp;
use tiered::controllers::tiered_app::apply::prepare;
use tiered::controllers::tiered_app::build::{
    DesiredChildren, Wiring, desired_children, owner_reference,
};
use tiered::runtime::context::FIELD_MANAGER;

use crate::BenchResult;
use crate::workload::{self, NAMESPACE};

async fn apply_each<K>(
    client: &kube::Client,
    objects: &[K],
    owner: &OwnerReference,
) -> BenchResult<()>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Serialize
        + DeserializeOwned
        + Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), NAMESPACE);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for object in objects {
        let value = prepare(object, owner)?;
        api.patch(&object.name_any(), &params, &Patch::Apply(&value))
            .await?;
    }
    Ok(())
}

/// Creates app `index` and applies its children, in the operator's kind order.
async fn create_and_apply(client: &kube::Client, index: usize) -> BenchResult<()> {
    let apps: Api<TieredApp> = Api::namespaced(client.clone(), NAMESPACE);
    let created = apps
        .create(&PostParams::default(), &workload::app(index)?)
        .await?;
    let validated = workload::validated(&created)?;
    let owner = owner_reference(&validated).ok_or("the created app has no uid")?;
    let DesiredChildren {
        deployments,
        services,
        hpas,
        pdbs,
        network_policies,
        ingresses,
    } = desired_children(&validated, &Wiring::default());
    apply_each(client, &deployments, &owner).await?;
    apply_each(client, &services, &owner).await?;
    apply_each(client, &hpas, &owner).await?;
    apply_each(client, &pdbs, &owner).await?;
    apply_each(client, &network_policies, &owner).await?;
    apply_each(client, &ingresses, &owner).await?;
    Ok(())
}

/// Runs the floor on a fresh emulator: `apps` apps over `concurrency` tasks. Returns
/// the wall time from the first create to the last apply.
pub async fn run(apps: usize, concurrency: usize) -> BenchResult<Duration> {
    let emulator = workload::start_emulator().await?;
    let client = emulator.client();
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let client = client.clone();
            let next = Arc::clone(&next);
            tokio::spawn(async move {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= apps {
                        return Ok::<(), crate::BenchError>(());
                    }
                    create_and_apply(&client, index).await?;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
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
