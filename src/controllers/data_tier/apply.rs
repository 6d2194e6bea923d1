//! The Kubernetes writes of the data-tier controllers, kept thin: the connection
//! Secret and the status, each by server-side apply under the one field manager and
//! only when it changes, with a Warning Event when `Ready` turns False for a reason
//! other than AWS being at work. Decisions come from the pure parts.

use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::conditions::reasons;
use crate::aws::tags::Owner;
use crate::runtime::context::{Context, FIELD_MANAGER};
use crate::runtime::kstatus::{WithConditions, changed, ready};
use crate::runtime::status::apply_status;

use crate::controllers::data_tier::error::{Error, kube_error};

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

/// Applies the connection Secret `desired`, unless `existing` already has its data
/// and owner.
///
/// # Errors
/// The API call's.
pub async fn apply_secret(
    secrets: &Api<Secret>,
    desired: &Secret,
    existing: Option<&Secret>,
) -> Result<(), Error> {
    let unchanged = existing.is_some_and(|existing| {
        existing.data == desired.data
            && existing.metadata.owner_references == desired.metadata.owner_references
    });
    if unchanged {
        return Ok(());
    }
    let name = desired.metadata.name.clone().unwrap_or_default();
    secrets
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(desired),
        )
        .await
        .map_err(kube_error("apply the connection Secret"))?;
    Ok(())
}

/// Writes `status` of `object` once, unless it equals `current` (transition times
/// aside), and records a Warning Event when `Ready` is False for a reason other than
/// AWS being at work.
///
/// # Errors
/// The API call's.
pub async fn write_status<K, S>(
    ctx: &Context,
    object: &K,
    current: Option<&S>,
    status: &S,
) -> Result<(), Error>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug,
    S: WithConditions + Serialize,
{
    if !changed(current, status) {
        return Ok(());
    }
    let namespace = object.namespace().ok_or(Error::MissingMetadata)?;
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &namespace);
    apply_status(&api, &(), &object.name_any(), status)
        .await
        .map_err(kube_error("write the status"))?;
    if let Some(ready) = ready(status.conditions())
        && ready.status == "False"
        && ready.reason != reasons::AWS_IN_PROGRESS
    {
        ctx.events
            .emit(
                &object.object_ref(&()),
                EventType::Warning,
                &ready.reason,
                "Reconcile",
                ready.message.clone(),
            )
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
