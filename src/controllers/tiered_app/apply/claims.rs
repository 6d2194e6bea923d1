//! The apply pass of the app's PersistentVolumeClaims, apart from the other children
//! because their ownership differs (see [`crate::controllers::tiered_app::build::volume`]):
//! a claim is the app's when its controller ownerReference or its
//! [`CLAIMED_BY`] label carries the app's uid; the ownerReference is applied only with
//! `whenDeleted: Delete` (server-side apply removes it again when the policy goes back
//! to `Retain`); a claim is never pruned or deleted by tiered. A claim's spec is
//! immutable but for a larger size: a change to its class, access modes or a smaller
//! size is not sent, it is reported so the app is `Stalled` on that field.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{Api, ResourceExt};
use serde_json::Value;

use super::{ChildRef, Conflict, InFlight, controlled_by, owner_label, server_side_apply};
use crate::api::tiered_app::ClaimRetention;
use crate::controllers::tiered_app::apply::ApplyReport;
use crate::controllers::tiered_app::build::naming::label_value;
use crate::controllers::tiered_app::build::quantity::parse_quantity;
use crate::controllers::tiered_app::build::volume::CLAIMED_BY;
use crate::controllers::tiered_app::diff::{hash_value, is_subset};
use crate::controllers::tiered_app::error::{Error, Result};
use crate::runtime::cached::{APPLIED_HASH, Cached};
use crate::runtime::stores::Indexed;

/// Applies the claims that differ from the live ones; returns the names of the claims
/// this app may not use (held by someone else's object, or refused by the API server
/// when created), whose tiers must be held. A refused claim is in `report`'s failures
/// and the other claims are still applied.
pub async fn apply_claims(
    api: &Api<PersistentVolumeClaim>,
    store: &Indexed<PersistentVolumeClaim>,
    in_flight: &InFlight,
    owner: &OwnerReference,
    retention: ClaimRetention,
    claims: &[PersistentVolumeClaim],
    report: &mut ApplyReport,
) -> Result<BTreeSet<String>> {
    let namespace = api.namespace().unwrap_or_default().to_owned();
    let mut unusable = BTreeSet::new();
    for desired in claims {
        let name = desired.name_any();
        let value = prepare_claim(desired, owner, retention)?;
        let hash = value["metadata"]["annotations"][APPLIED_HASH]
            .as_str()
            .unwrap_or_default();
        let key = (
            "PersistentVolumeClaim".to_owned(),
            namespace.clone(),
            name.clone(),
        );
        let live = store.get(&namespace, &name);
        let foreign = match foreign_holder(api, in_flight, live.as_deref(), &key, owner).await {
            Ok(foreign) => foreign,
            Err(error) => {
                // Whose claim it is is unknown: its tier is held until a retry tells.
                report.failed::<PersistentVolumeClaim>(&name, false, error)?;
                unusable.insert(name);
                continue;
            }
        };
        if let Some(holder) = foreign {
            report.conflicts.push(Conflict {
                child: ChildRef::of::<PersistentVolumeClaim>(&name),
                owner: holder,
            });
            unusable.insert(name);
            continue;
        }
        let live_value = live
            .as_deref()
            .map(Cached::value)
            .transpose()
            .ok()
            .flatten();
        let live_hash = live.as_deref().and_then(Cached::applied_hash);
        if let Some(live_hash) = live_hash {
            in_flight.seen(&key, live_hash);
        }
        if live_hash == Some(hash) && is_subset(&value, live_value.as_ref()) {
            continue;
        }
        if live_hash != Some(hash) && in_flight.pending(&key, hash) {
            report.behind = true;
            continue;
        }
        if let Some(live_value) = &live_value
            && let Some(problem) = immutable_change(&live_value["spec"], &value["spec"])
        {
            report
                .problems
                .push(format!("PersistentVolumeClaim/{name}: {problem}"));
            continue;
        }
        if let Err(source) = server_side_apply(api, &name, &value).await {
            let (kind, name_now) = ("PersistentVolumeClaim".to_owned(), name.clone());
            let error = Error::Apply {
                kind,
                name: name_now,
                source,
            };
            report.failed::<PersistentVolumeClaim>(&name, live.is_some(), error)?;
            // A claim that does not exist cannot be mounted: its tier is held.
            if live.is_none() {
                unusable.insert(name);
            }
            continue;
        }
        in_flight.record(key, hash.to_owned());
        let entry = ChildRef::of::<PersistentVolumeClaim>(&name);
        if live.is_some() {
            report.updated.push(entry);
        } else {
            report.created.push(entry);
        }
    }
    Ok(unusable)
}

/// The claim as JSON with the hash annotation, and the app's controller ownerReference
/// only when the claim goes with the app.
pub fn prepare_claim(
    desired: &PersistentVolumeClaim,
    owner: &OwnerReference,
    retention: ClaimRetention,
) -> Result<Value> {
    let mut value = serde_json::to_value(desired).map_err(|source| Error::Serialize {
        kind: "PersistentVolumeClaim".to_owned(),
        name: desired.name_any(),
        source,
    })?;
    if retention == ClaimRetention::Delete {
        value["metadata"]["ownerReferences"] = serde_json::json!([owner]);
    }
    let hash = hash_value(&value);
    value["metadata"]["annotations"][APPLIED_HASH] = Value::String(hash);
    Ok(value)
}

/// Whether the claim `live` (or, absent from the store, the object of that name on the
/// API server) belongs to someone else: `Some(who)` then, `None` when the name is free
/// or the claim is this app's.
async fn foreign_holder(
    api: &Api<PersistentVolumeClaim>,
    in_flight: &InFlight,
    live: Option<&Cached<PersistentVolumeClaim>>,
    key: &(String, String, String),
    owner: &OwnerReference,
) -> Result<Option<String>> {
    let claimed = label_value(&owner.uid);
    if let Some(live) = live {
        return Ok(holder(
            live.owner_references(),
            live.label(CLAIMED_BY),
            &claimed,
            &owner.uid,
        ));
    }
    if in_flight.sent(key) {
        return Ok(None);
    }
    let existing = api
        .get_metadata_opt(&key.2)
        .await
        .map_err(|source| Error::Fetch {
            kind: "child",
            name: format!("PersistentVolumeClaim/{}", key.2),
            source,
        })?;
    Ok(existing.and_then(|meta| {
        let references = meta.metadata.owner_references.unwrap_or_default();
        let labels = meta.metadata.labels.unwrap_or_default();
        holder(
            &references,
            labels.get(CLAIMED_BY).map(String::as_str),
            &claimed,
            &owner.uid,
        )
    }))
}

/// Who holds a claim with these ownerReferences and [`CLAIMED_BY`] label, unless it is
/// the app with `uid` (`claimed` being its label value).
fn holder(
    references: &[OwnerReference],
    claimed_by: Option<&str>,
    claimed: &str,
    uid: &str,
) -> Option<String> {
    let foreign_controller = references
        .iter()
        .any(|r| r.controller == Some(true) && r.uid != uid);
    if foreign_controller {
        return Some(owner_label(references));
    }
    if controlled_by(references, uid) || claimed_by == Some(claimed) {
        return None;
    }
    Some(match claimed_by {
        Some(other) => format!(
            "the TieredApp with uid {other} (a retained claim; label it {CLAIMED_BY}={claimed} to hand it to this app)"
        ),
        None => owner_label(references),
    })
}

/// What in `desired` a live claim's spec cannot take: another class or access modes,
/// or a smaller size. `None` when only allowed changes remain.
pub fn immutable_change(live: &Value, desired: &Value) -> Option<String> {
    let class = &desired["storageClassName"];
    if !class.is_null() && live["storageClassName"] != *class {
        return Some(format!(
            "storageClassName is {} and cannot change; restore it in spec.volumes, or delete the claim to recreate it",
            live["storageClassName"]
        ));
    }
    let modes = |spec: &Value| -> BTreeSet<String> {
        spec["accessModes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|mode| mode.as_str().map(str::to_owned))
            .collect()
    };
    if modes(live) != modes(desired) {
        return Some(format!(
            "accessModes are {} and cannot change; restore them in spec.volumes, or delete the claim to recreate it",
            live["accessModes"]
        ));
    }
    let size = |spec: &Value| {
        spec["resources"]["requests"]["storage"]
            .as_str()
            .and_then(parse_quantity)
    };
    match (size(live), size(desired)) {
        (Some(now), Some(wanted)) if wanted < now => Some(format!(
            "its size is {} and a claim cannot shrink; give at least that in spec.volumes",
            live["resources"]["requests"]["storage"]
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(class: &str, modes: &[&str], size: &str) -> Value {
        json!({"storageClassName": class, "accessModes": modes, "resources": {"requests": {"storage": size}}})
    }

    #[test]
    fn a_claim_may_grow_but_not_shrink_or_change_class_or_modes() {
        let live = spec("efs-sc", &["ReadWriteMany"], "5Gi");
        assert_eq!(
            immutable_change(&live, &spec("efs-sc", &["ReadWriteMany"], "10Gi")),
            None
        );
        assert_eq!(
            immutable_change(&live, &spec("efs-sc", &["ReadWriteMany"], "5Gi")),
            None
        );
        let shrink = immutable_change(&live, &spec("efs-sc", &["ReadWriteMany"], "1Gi")).unwrap();
        assert!(shrink.contains("cannot shrink"), "{shrink}");
        let class = immutable_change(&live, &spec("gp3", &["ReadWriteMany"], "5Gi")).unwrap();
        assert!(
            class.starts_with("storageClassName is \"efs-sc\""),
            "{class}"
        );
        let modes = immutable_change(&live, &spec("efs-sc", &["ReadWriteOnce"], "5Gi")).unwrap();
        assert!(modes.starts_with("accessModes"), "{modes}");
    }

    #[test]
    fn a_class_defaulted_by_the_api_server_is_not_a_change() {
        let live = spec("gp2", &["ReadWriteMany"], "5Gi");
        let desired = json!({"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "5Gi"}}});
        assert_eq!(immutable_change(&live, &desired), None);
    }

    fn reference(uid: &str, controller: bool) -> OwnerReference {
        OwnerReference {
            api_version: "tiered.io/v1alpha1".to_owned(),
            kind: "TieredApp".to_owned(),
            name: "shop".to_owned(),
            uid: uid.to_owned(),
            controller: Some(controller),
            block_owner_deletion: None,
        }
    }

    #[test]
    fn a_claim_is_the_apps_by_its_controller_reference_or_its_label_only() {
        assert_eq!(holder(&[reference("me", true)], None, "me", "me"), None);
        assert_eq!(holder(&[], Some("me"), "me", "me"), None);
        let retained = holder(&[], Some("old"), "me", "me").unwrap();
        assert!(retained.contains("uid old"), "{retained}");
        assert_eq!(
            holder(&[], None, "me", "me").as_deref(),
            Some("not managed by tiered")
        );
        // Our label does not make a claim another controller holds ours.
        assert_eq!(
            holder(&[reference("other", true)], Some("me"), "me", "me").as_deref(),
            Some("TieredApp/shop")
        );
    }
}
