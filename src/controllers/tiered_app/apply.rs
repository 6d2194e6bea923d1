//! The TieredApp's writes to the API: server-side apply of the desired children with
//! change detection, pruning by label, the Events that say what changed, and the status
//! write (only when it changed).
//!
//! A child is applied only when it differs from the live object in the reflector store:
//! the desired object carries a hash of itself in an annotation, and it is re-applied
//! when the live hash differs (a field was added or removed from the desired state) or
//! when a field it sets was changed by someone else. A converged app therefore costs no
//! writes. Pruning reads the same stores (a cache of a `managed-by=tiered` watch, i.e.
//! a label-selected list) and deletes only objects whose controller owner is this app
//! (checked again on the object, and made a precondition of the delete by uid).
//!
//! Ownership: a child name held by an object this app does not control (no controller
//! ownerReference with the app's uid) is never written, pruned or deleted; it is
//! reported as a [`Conflict`] and the app's other children are still applied. Objects
//! of other apps are in the stores (they carry `managed-by=tiered`); a foreign object
//! without that label is not, so a name the store does not show as ours is looked up
//! with one metadata GET before the first write. A converged app (every child in the
//! store as ours) makes no request at all.
//!
//! The stores learn of a write only when its watch event arrives, which is often after
//! the next reconcile of the same app has started (every child it creates triggers
//! one). [`InFlight`] remembers what was just applied, so that reconcile does not apply
//! the same object again: in the operator benchmark that was one write in six.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde_json::Value;

use crate::api::tiered_app::{ClaimRetention, TieredApp, TieredAppStatus};
use crate::controllers::tiered_app::build::labels::NAME as LABEL_TIER;
use crate::controllers::tiered_app::build::{Child, DesiredChildren};
use crate::controllers::tiered_app::diff::{differences, hash_value, is_subset};
use crate::controllers::tiered_app::error::{Error, Result};
use crate::runtime::cached::{APPLIED_HASH, Cached};
use crate::runtime::context::{Context, FIELD_MANAGER};
use crate::runtime::kstatus::changed;
use crate::runtime::status::apply_status;
use crate::runtime::stores::{ChildStores, Indexed};
mod claims;
mod in_flight;
mod report;
pub use claims::{apply_claims, immutable_change, prepare_claim};
pub use in_flight::{IN_FLIGHT_WINDOW, InFlight};
pub use report::{
    ApplyReport, ChildRef, Conflict, FAILURE_MESSAGE_MAX_BYTES, Failure, PUT_BACK_PER_CHILD,
    PutBack, controlled_by, owner_label, publish_report,
};

/// The desired object as JSON, with controller owner reference and hash annotation.
pub fn prepare<K: Serialize + Resource<DynamicType = ()>>(
    desired: &K,
    owner: &OwnerReference,
) -> Result<Value> {
    let kind = K::kind(&()).into_owned();
    let mut value = serde_json::to_value(desired).map_err(|source| Error::Serialize {
        kind,
        name: desired.meta().name.clone().unwrap_or_default(),
        source,
    })?;
    value["metadata"]["ownerReferences"] = serde_json::json!([owner]);
    let hash = hash_value(&value);
    value["metadata"]["annotations"][APPLIED_HASH] = Value::String(hash);
    Ok(value)
}

/// One child kind: its API, the reflector store of live objects and what to apply.
pub struct KindPass<'a, K: Resource<DynamicType = ()> + 'static> {
    /// API of the kind in the app's namespace.
    pub api: Api<K>,
    /// Live objects (label-selected watch), indexed by owner.
    pub store: &'a Indexed<K>,
    /// Applies the store has not shown yet.
    pub in_flight: &'a InFlight,
    /// Desired objects.
    pub desired: Vec<K>,
    /// Whether to read the API server's answers (the objects as applied) and return
    /// them. Reading one means parsing its managedFields too, a good part of the
    /// operator's CPU at scale, so passes that do not need them skip it.
    pub keep_answers: bool,
}

/// Server-side applies `value` as `name` with our field manager, forcing conflicts;
/// the answer is left as text (see [`KindPass::keep_answers`]).
async fn server_side_apply<K: Resource<DynamicType = ()> + Clone>(
    api: &Api<K>,
    name: &str,
    value: &Value,
) -> std::result::Result<String, kube::Error> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let request = kube::core::Request::new(api.resource_url())
        .patch(name, &params, &Patch::Apply(value))
        .map_err(kube::Error::BuildRequest)?;
    api.clone().into_client().request_text(request).await
}

/// Applies the desired objects of one kind that differ from the live ones, then deletes
/// the app's objects of that kind that are not desired. Children of tiers in `frozen`
/// (waiting for a database or cache) are neither applied nor pruned. A child the API
/// server refuses or fails (apply, delete or ownership lookup) is recorded in `report`'s
/// [`ApplyReport::failures`] and the others are still written. Returns the objects as
/// the API server answered the applies.
///
/// # Errors
///
/// Only the operator's own faults: a desired object that does not serialize, an answer
/// that is not the object.
pub async fn apply_kind<K: Child>(
    pass: KindPass<'_, K>,
    owner: &OwnerReference,
    app_labels: &BTreeMap<String, String>,
    frozen: &BTreeSet<String>,
    report: &mut ApplyReport,
) -> Result<Vec<K>> {
    let kind = K::kind(&()).into_owned();
    let namespace = pass.api.namespace().unwrap_or_default().to_owned();
    let mut desired_names = BTreeSet::new();
    let mut applied = Vec::new();
    for desired in &pass.desired {
        let name = desired.name_any();
        desired_names.insert(name.clone());
        if desired
            .labels()
            .get(LABEL_TIER)
            .is_some_and(|t| frozen.contains(t))
        {
            continue;
        }
        let value = prepare(desired, owner)?;
        let hash = value["metadata"]["annotations"][APPLIED_HASH]
            .as_str()
            .unwrap_or_default();
        let key = (kind.clone(), namespace.clone(), name.clone());
        let live = pass.store.get(&namespace, &name);
        let foreign = match foreign_owner(&pass, live.as_deref(), &name, owner).await {
            Ok(foreign) => foreign,
            Err(error) => {
                report.failed::<K>(&name, false, error)?;
                continue;
            }
        };
        if let Some(owner_now) = foreign {
            report.conflicts.push(Conflict {
                child: ChildRef::of::<K>(&name),
                owner: owner_now,
            });
            continue;
        }
        let live_hash = live.as_deref().and_then(Cached::applied_hash);
        if let Some(live_hash) = live_hash {
            pass.in_flight.seen(&key, live_hash);
        }
        let mut put_back = Vec::new();
        if live_hash == Some(hash) {
            // Same desired state as last applied: re-apply only when someone changed a
            // field we set.
            let live_value = live.as_deref().map(Cached::value).transpose();
            if let Some(live_value) = live_value.ok().flatten() {
                // The cheap check runs on every pass; the path is only built for drift.
                if is_subset(&value, Some(&live_value)) {
                    continue;
                }
                put_back = differences(&value, Some(&live_value), PUT_BACK_PER_CHILD)
                    .into_iter()
                    .map(|(field, desired)| PutBack::new(ChildRef::of::<K>(&name), field, desired))
                    .collect();
            }
        } else if pass.in_flight.pending(&key, hash) {
            report.behind = true;
            continue;
        }
        let applied_now = apply_clearing_exclusive_fields(&pass.api, &name, &value, live.is_some());
        let answer = match applied_now.await {
            Ok(answer) => answer,
            Err(source) => {
                // One refused child (an admission webhook, a quota, an invalid object)
                // does not stop the others: the pass goes on, and the reconcile reports
                // it (status, Event) and retries.
                let (kind, name_now) = (kind.clone(), name.clone());
                let error = Error::Apply {
                    kind,
                    name: name_now,
                    source,
                };
                report.failed::<K>(&name, live.is_some(), error)?;
                continue;
            }
        };
        pass.in_flight.record(key, hash.to_owned());
        if pass.keep_answers {
            let object = serde_json::from_str(&answer).map_err(|source| Error::Answer {
                kind: kind.clone(),
                name: name.clone(),
                source,
            })?;
            applied.push(object);
        }
        let entry = ChildRef::of::<K>(&name);
        if live.is_some() {
            report.updated.push(entry);
        } else {
            report.created.push(entry);
        }
        report.put_back.extend(put_back);
    }
    prune_kind(&pass, owner, app_labels, frozen, &desired_names, report).await?;
    Ok(applied)
}

/// Deletes the app's objects of one kind (in `pass`'s store) that are not in
/// `desired_names`; children of tiers in `frozen` stay. A delete the API server refuses
/// or fails is recorded in `report`'s failures.
async fn prune_kind<K: Child>(
    pass: &KindPass<'_, K>,
    owner: &OwnerReference,
    app_labels: &BTreeMap<String, String>,
    frozen: &BTreeSet<String>,
    desired_names: &BTreeSet<String>,
    report: &mut ApplyReport,
) -> Result<()> {
    let kind = K::kind(&()).into_owned();
    let namespace = pass.api.namespace().unwrap_or_default().to_owned();
    for live in pass.store.owned_by(&owner.uid) {
        let ours = app_labels
            .iter()
            .all(|(k, v)| live.label(k) == Some(v.as_str()));
        let name = live.name_any();
        if live.namespace().as_deref() != Some(namespace.as_str())
            || !ours
            || !controlled_by(live.owner_references(), &owner.uid)
            || desired_names.contains(&name)
            || live.label(LABEL_TIER).is_some_and(|t| frozen.contains(t))
            || live.meta().deletion_timestamp.is_some()
        {
            continue;
        }
        // Deletes exactly the object checked above: a foreign object created under the
        // same name since then fails the uid precondition (409) and stays.
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: live.uid(),
                resource_version: None,
            }),
            ..DeleteParams::background()
        };
        match pass.api.delete(&name, &params).await {
            Ok(_) => report.pruned.push(ChildRef::of::<K>(&name)),
            Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => {}
            Err(source) => {
                let (kind, name_now) = (kind.clone(), name.clone());
                report.failed::<K>(
                    &name,
                    true,
                    Error::Prune {
                        kind,
                        name: name_now,
                        source,
                    },
                )?;
            }
        }
    }
    Ok(())
}

/// [`server_side_apply`]; when an `existing` child of ours is refused (422) and its kind
/// has [`exclusive_fields`] (set by someone else, excluding one of ours), they are
/// removed and the apply is sent again, once.
async fn apply_clearing_exclusive_fields<K: Child>(
    api: &Api<K>,
    name: &str,
    value: &Value,
    existing: bool,
) -> std::result::Result<String, kube::Error> {
    match server_side_apply(api, name, value).await {
        Err(kube::Error::Api(status)) if existing && status.code == 422 => {
            let Some(exclusive) = exclusive_fields(&K::kind(&())) else {
                return Err(kube::Error::Api(status));
            };
            let params = PatchParams {
                field_manager: Some(FIELD_MANAGER.to_owned()),
                ..PatchParams::default()
            };
            api.patch(name, &params, &Patch::Merge(&exclusive)).await?;
            server_side_apply(api, name, value).await
        }
        answer => answer,
    }
}

/// A merge patch removing the fields another manager may set on a child of `kind` that
/// the API server refuses together with one tiered applies, or `None` for kinds without
/// such fields. A PodDisruptionBudget takes `minAvailable` or `maxUnavailable`, not both;
/// tiered applies `maxUnavailable`, and after a `kubectl edit` to `minAvailable` (owned
/// by kubectl, so server-side apply keeps it) every apply was refused with 422: the app
/// stayed on retries and the budget stayed as edited.
fn exclusive_fields(kind: &str) -> Option<Value> {
    (kind == "PodDisruptionBudget").then(|| serde_json::json!({"spec": {"minAvailable": null}}))
}

/// Who controls the object named `name` when it is not this app (`owner`): `None` when
/// the name is free or the object is ours. The store answers for every object it shows
/// (ours or another app's); a name it does not show is looked up with one metadata GET,
/// unless an apply of ours to it is in flight (the store is only behind).
async fn foreign_owner<K: Child>(
    pass: &KindPass<'_, K>,
    live: Option<&Cached<K>>,
    name: &str,
    owner: &OwnerReference,
) -> Result<Option<String>> {
    if let Some(live) = live {
        let references = live.owner_references();
        return Ok((!controlled_by(references, &owner.uid)).then(|| owner_label(references)));
    }
    let kind = K::kind(&()).into_owned();
    let namespace = pass.api.namespace().unwrap_or_default().to_owned();
    if pass
        .in_flight
        .sent(&(kind.clone(), namespace, name.to_owned()))
    {
        return Ok(None);
    }
    let existing = pass
        .api
        .get_metadata_opt(name)
        .await
        .map_err(|source| Error::Fetch {
            kind: "child",
            name: format!("{kind}/{name}"),
            source,
        })?;
    Ok(existing.and_then(|meta| {
        let references = meta.metadata.owner_references.unwrap_or_default();
        (!controlled_by(&references, &owner.uid)).then(|| owner_label(&references))
    }))
}

/// What [`apply_all`] did, and the Deployments as the API server answered their applies.
pub struct Applied {
    /// Children created, updated and pruned.
    pub report: ApplyReport,
    /// The applied Deployments (the stores show them a moment later).
    pub deployments: Vec<Deployment>,
}

/// Where the children of one app go: the API and stores of `namespace`, with `owner`
/// as their controller and `labels` to find them for pruning; tiers in `frozen` are
/// left as they are.
pub struct Destination<'a> {
    /// The namespace of the app.
    pub namespace: &'a str,
    /// The app's controller ownerReference.
    pub owner: &'a OwnerReference,
    /// The labels every child of the app carries.
    pub labels: &'a BTreeMap<String, String>,
    /// Tiers waiting for their database or cache.
    pub frozen: &'a BTreeSet<String>,
    /// Whether the app's claims go with it (`persistentVolumeClaimRetentionPolicy`).
    pub claim_retention: ClaimRetention,
}

/// Applies every kind of desired child that differs from the live one and prunes the
/// app's children that are no longer desired, kind by kind (Services before the
/// Deployments that use them). The destructuring names every kind, so a new kind of
/// child cannot be built and silently never applied. A child the API server refuses is
/// in the report's [`ApplyReport::failures`]; every other child is still applied and
/// pruned (a tier whose ServiceAccount or claim could not be created is held, as one
/// whose name another object holds).
pub async fn apply_all(
    client: &kube::Client,
    stores: &ChildStores,
    in_flight: &InFlight,
    to: &Destination<'_>,
    children: DesiredChildren,
) -> Result<Applied> {
    let DesiredChildren {
        claims,
        service_accounts,
        deployments,
        services,
        hpas,
        pdbs,
        network_policies,
        ingresses,
    } = children;
    let mut report = ApplyReport::default();
    // Tiers whose ServiceAccount name is held by someone else's object are held as
    // well: their pods would otherwise run under that object (and its IAM role).
    let account_tiers = tiers_by_name(&service_accounts);
    let service_tiers = tiers_by_name(&services);
    let mut held = to.frozen.clone();
    // Claims first: a pod that mounts a claim held by someone else's object would read
    // and write their data, so its tier is held as well.
    let unusable = apply_claims(
        &Api::namespaced(client.clone(), to.namespace),
        &stores.claims,
        in_flight,
        to.owner,
        to.claim_retention,
        &claims,
        &mut report,
    )
    .await?;
    held.extend(
        deployments
            .iter()
            .filter(|deployment| mounts_any(deployment, &unusable))
            .filter_map(|deployment| deployment.labels().get(LABEL_TIER).cloned()),
    );
    macro_rules! pass {
        ($desired:expr, $store:expr) => {
            pass!($desired, $store, false, &held)
        };
        ($desired:expr, $store:expr, $keep_answers:expr, $held:expr) => {
            apply_kind(
                KindPass {
                    api: Api::namespaced(client.clone(), to.namespace),
                    store: $store,
                    in_flight,
                    desired: $desired,
                    keep_answers: $keep_answers,
                },
                to.owner,
                to.labels,
                $held,
                &mut report,
            )
            .await?
        };
    }
    // ServiceAccounts first: pods naming one that does not exist yet are refused.
    pass!(service_accounts, &stores.service_accounts);
    // A ServiceAccount whose create was refused does not exist: its pods would be refused.
    held.extend(unusable_tiers(
        &report,
        "ServiceAccount",
        &account_tiers,
        true,
    ));
    pass!(services, &stores.services);
    // A tier's Ingress routes to the Service of the same name: while someone else's
    // Service holds that name, the load balancer would send the tier's public traffic
    // to their pods, so the Ingress is held (the tier's other children are not). So it
    // is while a refused create leaves no Service: the AWS Load Balancer Controller
    // cannot build an IngressGroup with a backend that is not found, which would hold
    // every other Ingress of a shared group (FailedBuildModel, by design upstream:
    // kubernetes-sigs/aws-load-balancer-controller#3790).
    let mut ingress_held = held.clone();
    ingress_held.extend(unusable_tiers(&report, "Service", &service_tiers, true));
    let deployment_tiers = tiers_by_name(&deployments);
    let deployments = pass!(deployments, &stores.deployments, true, &held);
    // A tier's HPA scales the Deployment of the same name through its /scale: while
    // someone else's Deployment holds that name, the HPA would resize their workload
    // (clamp it to the tier's min and max), so it is held like the Ingress above.
    let mut hpa_held = held.clone();
    hpa_held.extend(unusable_tiers(
        &report,
        "Deployment",
        &deployment_tiers,
        false,
    ));
    pass!(hpas, &stores.hpas, false, &hpa_held);
    pass!(pdbs, &stores.pdbs);
    pass!(network_policies, &stores.network_policies);
    pass!(ingresses, &stores.ingresses, false, &ingress_held);
    Ok(Applied {
        report,
        deployments,
    })
}

/// The tier of each object in `objects` by the object's name (its tier label).
fn tiers_by_name<K: Resource>(objects: &[K]) -> BTreeMap<String, String> {
    objects
        .iter()
        .filter_map(|object| {
            let tier = object.labels().get(LABEL_TIER)?.clone();
            Some((object.name_any(), tier))
        })
        .collect()
}

/// The tiers (by `tiers`, object name → tier) of the `kind` children in `report` the
/// app cannot use: held by another owner's object ([`ApplyReport::conflicts`]), or, with
/// `absent`, not there because their create failed ([`ApplyReport::failures`]).
fn unusable_tiers<'a>(
    report: &'a ApplyReport,
    kind: &'a str,
    tiers: &'a BTreeMap<String, String>,
    absent: bool,
) -> impl Iterator<Item = String> + 'a {
    let conflicts = report.conflicts.iter().map(|conflict| &conflict.child);
    let failed = (report.failures.iter())
        .filter(move |failure| absent && !failure.existed)
        .map(|failure| &failure.child);
    conflicts
        .chain(failed)
        .filter(move |child| child.kind == kind)
        .filter_map(|child| tiers.get(&child.name).cloned())
}

/// Whether the pods of `deployment` mount one of the claims named in `claims`.
fn mounts_any(deployment: &Deployment, claims: &BTreeSet<String>) -> bool {
    deployment
        .spec
        .as_ref()
        .and_then(|spec| spec.template.spec.as_ref())
        .and_then(|pod| pod.volumes.as_ref())
        .is_some_and(|volumes| {
            volumes.iter().any(|volume| {
                volume
                    .persistent_volume_claim
                    .as_ref()
                    .is_some_and(|claim| claims.contains(&claim.claim_name))
            })
        })
}

/// Writes `next` with server-side apply on `/status` when it differs from the current
/// status (timestamps aside). Returns whether it wrote.
pub async fn write_status(ctx: &Context, app: &TieredApp, next: TieredAppStatus) -> Result<bool> {
    if !changed(app.status.as_ref(), &next) {
        return Ok(false);
    }
    let name = app.name_any();
    let api: Api<TieredApp> =
        Api::namespaced(ctx.client.clone(), &app.namespace().unwrap_or_default());
    apply_status(&api, &(), &name, &next)
        .await
        .map_err(|source| Error::Status { name, source })?;
    Ok(true)
}
