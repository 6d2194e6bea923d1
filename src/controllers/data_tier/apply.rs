//! The Kubernetes writes of the data-tier controllers, kept thin: the connection
//! Secret (created when absent, so it is never taken from someone who created it a
//! moment earlier, then by server-side apply) and the status (server-side apply), under
//! the one field manager and only when they change, with a Warning Event when `Ready` turns False for a reason
//! other than AWS being at work. Decisions come from the pure parts.

use std::collections::BTreeMap;
use std::fmt::Debug;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::core::object::HasStatus;
use kube::runtime::events::EventType;
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;

use crate::api::conditions::reasons;
use crate::aws::tags::Owner;
use crate::runtime::context::FIELD_MANAGER;
use crate::runtime::kstatus::{WithConditions, changed, now, ready};
use crate::runtime::own_writes::OwnWrites;
use crate::runtime::status::apply_status;

use crate::controllers::data_tier::error::{Error, kube_error};
use crate::controllers::data_tier::kind::{DataTier, Shared};
use crate::controllers::data_tier::status::{Progress, with_progress};

/// Who claims `object`'s AWS resource in `cluster`.
///
/// # Errors
/// [`Error::MissingMetadata`] when the object has no namespace or UID.
pub fn owner_of<K: Resource>(object: &K, cluster: &str) -> Result<Owner, Error> {
    Ok(Owner {
        cluster: cluster.to_owned(),
        namespace: object.namespace().ok_or(Error::MissingMetadata)?,
        name: object.name_any(),
        uid: object.uid().ok_or(Error::MissingMetadata)?,
    })
}

/// What writing the connection Secret did.
#[derive(Debug)]
pub enum SecretWrite {
    /// It already had the data and owner.
    Unchanged,
    /// Created or updated.
    Written,
    /// It was absent when read, and someone created it before us: this Secret (never
    /// written by us).
    Taken(Box<Secret>),
}

/// Writes the connection Secret `desired`, unless `existing` already has its data and
/// owner. An absent Secret is created (POST), so two objects that want the same name at
/// the same moment cannot both take it: the loser gets [`SecretWrite::Taken`]. An
/// existing one (which the caller checked is this object's) is server-side applied.
/// The write is announced in `own`, so its watch event does not trigger a reconcile.
///
/// A created Secret's keys are owned by the field manager's `Update` entry, the later
/// applies' by its `Apply` entry; the keys it is created with (the credential, user,
/// port, database) are in every later apply too, so none is left behind.
///
/// # Errors
/// The API call's.
pub async fn apply_secret(
    secrets: &Api<Secret>,
    desired: &Secret,
    existing: Option<&Secret>,
    own: &OwnWrites,
) -> Result<SecretWrite, Error> {
    let unchanged = existing.is_some_and(|existing| {
        existing.data == desired.data
            && existing.metadata.owner_references == desired.metadata.owner_references
    });
    if unchanged {
        return Ok(SecretWrite::Unchanged);
    }
    let name = desired.metadata.name.clone().unwrap_or_default();
    let namespace = desired.metadata.namespace.clone().unwrap_or_default();
    own.writing(&namespace, &name);
    // Keys the desired data no longer has (a pending credential once AWS accepted it)
    // are removed first: the Secret was created by a POST, and server-side apply only
    // removes fields that an apply of the same manager had set.
    let stale: serde_json::Map<String, serde_json::Value> = existing
        .and_then(|existing| existing.data.as_ref())
        .into_iter()
        .flat_map(BTreeMap::keys)
        .filter(|key| {
            desired
                .data
                .as_ref()
                .is_none_or(|data| !data.contains_key(*key))
        })
        .map(|key| (key.clone(), serde_json::Value::Null))
        .collect();
    if !stale.is_empty()
        && let Err(error) = secrets
            .patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({ "data": stale })),
            )
            .await
    {
        own.written(&namespace, &name, None);
        return Err(kube_error("write the connection Secret")(error));
    }
    let written = if existing.is_some() {
        secrets
            .patch(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(desired),
            )
            .await
    } else {
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PostParams::default()
        };
        secrets.create(&params, desired).await
    };
    match written {
        Ok(secret) => {
            own.written(&namespace, &name, secret.resource_version());
            Ok(SecretWrite::Written)
        }
        Err(kube::Error::Api(status)) if existing.is_none() && status.is_already_exists() => {
            own.written(&namespace, &name, None);
            let taken = secrets
                .get_opt(&name)
                .await
                .map_err(kube_error("read the connection Secret"))?;
            taken.map_or_else(
                || Err(Error::SecretVanished { name: name.clone() }),
                |secret| Ok(SecretWrite::Taken(Box::new(secret))),
            )
        }
        Err(error) => {
            own.written(&namespace, &name, None);
            Err(kube_error("write the connection Secret")(error))
        }
    }
}

/// Writes `progress` into the conditions of `object`'s status, every other field as it
/// was (as [`write_status`]: once, with its Warning Event): for a pass or a finalizer step
/// that read nothing to report but where it stands.
///
/// # Errors
/// The API call's.
pub async fn write_conditions<K: DataTier>(
    shared: &Shared<K>,
    object: &K::Object,
    progress: &Progress,
) -> Result<(), Error> {
    let current = object.status();
    let generation = object.meta().generation;
    let status = with_progress(generation, current, K::NOUNS, progress, &now());
    write_status(shared, object, current, &status).await
}

/// Writes `status` of `object` once, unless it equals `current` (transition times
/// aside) or `object` is no longer this controller's ([`Shared::holds`]: its pass
/// outlived a move to another shard or a re-creation), and records a Warning Event
/// when `Ready` is False for a reason other than AWS being at work or a call waiting
/// for the object's budget.
///
/// # Errors
/// The API call's.
pub async fn write_status<K, S>(
    shared: &Shared<K>,
    object: &K::Object,
    current: Option<&S>,
    status: &S,
) -> Result<(), Error>
where
    K: DataTier,
    S: WithConditions + Serialize,
{
    if !changed(current, status) {
        return Ok(());
    }
    if !shared.holds(object) {
        tracing::info!(
            "the object left this process's selection during the pass (relabelled to another shard, or deleted); its status is not written"
        );
        return Ok(());
    }
    let ctx = &shared.ctx;
    let namespace = object.namespace().ok_or(Error::MissingMetadata)?;
    let api: Api<K::Object> = Api::namespaced(ctx.client.clone(), &namespace);
    apply_status(&api, &(), &object.name_any(), status)
        .await
        .map_err(kube_error("write the status"))?;
    if let Some(ready) = ready(status.conditions())
        && ready.status == "False"
        && ready.reason != reasons::AWS_IN_PROGRESS
        && ready.reason != reasons::AWS_CALLS_PACED
        && ready.reason != reasons::DELETING
    {
        let note = ready.message.clone();
        shared
            .emit(object, EventType::Warning, &ready.reason, note)
            .await;
    }
    Ok(())
}

/// When `object`'s deletion began (now, if the API server has not stamped it), so
/// every retry of a cleanup names the same final snapshot.
pub fn deletion_time<K: Resource>(object: &K) -> Timestamp {
    object
        .meta()
        .deletion_timestamp
        .as_ref()
        .map_or_else(Timestamp::now, |time| time.0)
}
