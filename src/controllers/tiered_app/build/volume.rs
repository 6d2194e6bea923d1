//! Shared file storage: the PersistentVolumeClaim `<app>-<volume>` of each of the app's
//! `volumes`, and the pod volumes and container mounts of the tiers that mount them.
//! Pure.
//!
//! Retention follows the StatefulSet's `persistentVolumeClaimRetentionPolicy`: with
//! `whenDeleted: Delete` the claim carries the app's controller ownerReference (added at
//! apply time like every child's) and the garbage collector deletes it with the app;
//! with `Retain` (the default) it carries no ownerReference at all, so nothing deletes
//! it, and the label [`CLAIMED_BY`] (the app's uid) is how tiered recognises it as
//! its own. A claim is never pruned: removing a volume or a tier that mounts it leaves
//! the claim and its data.
//!
//! A claim carries neither `app.kubernetes.io/instance` nor any other label a GitOps tool
//! tracks by: Argo CD's default label tracking takes an object labelled
//! `app.kubernetes.io/instance=<Application>` and without ownerReferences as one of the
//! Application's, and with `prune: true` deletes it as missing from git. Every other
//! child has the app's controller ownerReference, which Argo CD never prunes; a retained
//! claim has none, and the Application is often named after the app.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, Volume,
    VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::api::tiered_app::VolumeAccessMode;
use crate::controllers::tiered_app::build::labels::{
    COMPONENT, MANAGED_BY, MANAGED_BY_VALUE, PART_OF,
};
use crate::controllers::tiered_app::build::naming::label_value;
use crate::controllers::tiered_app::validated::{ValidatedApp, ValidatedTier, ValidatedVolume};

/// Label naming the uid of the TieredApp a claim belongs to, on every claim tiered
/// creates; with `Retain` the only mark of ownership (a label, not an annotation, so the
/// reflector store keeps it). Set it to another app's uid to hand a retained claim to
/// that app.
pub const CLAIMED_BY: &str = "tiered.io/app-uid";
/// `app.kubernetes.io/component` of a claim.
pub const STORAGE_COMPONENT: &str = "shared-storage";
/// Prefix of the pod volume that mounts a claim (`volume-<name>`), apart from the
/// operator's own `tmp` volume.
pub const POD_VOLUME_PREFIX: &str = "volume-";

/// The claims of the app's volumes, in spec order. Without a uid (offline) the claims
/// carry no [`CLAIMED_BY`].
pub fn desired_claims(app: &ValidatedApp) -> Vec<PersistentVolumeClaim> {
    app.volumes
        .iter()
        .map(|volume| desired_claim(app, volume))
        .collect()
}

fn desired_claim(app: &ValidatedApp, volume: &ValidatedVolume) -> PersistentVolumeClaim {
    // Not `prune_labels`: no `app.kubernetes.io/instance` (see the module docs).
    let mut labels = BTreeMap::from([
        (MANAGED_BY.to_owned(), MANAGED_BY_VALUE.to_owned()),
        (PART_OF.to_owned(), label_value(&app.name)),
        (COMPONENT.to_owned(), STORAGE_COMPONENT.to_owned()),
    ]);
    if let Some(uid) = &app.uid {
        labels.insert(CLAIMED_BY.to_owned(), label_value(uid));
    }
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(volume.claim_name.clone()),
            namespace: Some(app.namespace.clone()),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(
                volume
                    .access_modes
                    .iter()
                    .map(|mode| access_mode(*mode).to_owned())
                    .collect(),
            ),
            storage_class_name: volume.storage_class_name.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_owned(),
                    Quantity(volume.size.clone()),
                )])),
                limits: None,
            }),
            volume_mode: Some("Filesystem".to_owned()),
            ..PersistentVolumeClaimSpec::default()
        }),
        status: None,
    }
}

/// The wire name of an access mode.
pub fn access_mode(mode: VolumeAccessMode) -> &'static str {
    match mode {
        VolumeAccessMode::ReadWriteMany => "ReadWriteMany",
        VolumeAccessMode::ReadOnlyMany => "ReadOnlyMany",
        VolumeAccessMode::ReadWriteOnce => "ReadWriteOnce",
        VolumeAccessMode::ReadWriteOncePod => "ReadWriteOncePod",
    }
}

/// The pod volumes of the claims the tier mounts (one per claim, however many paths).
pub fn pod_volumes(tier: &ValidatedTier) -> Vec<Volume> {
    let mut seen = std::collections::BTreeSet::new();
    tier.volume_mounts
        .iter()
        .filter(|mount| seen.insert(mount.volume.as_str()))
        .map(|mount| Volume {
            name: pod_volume_name(&mount.volume),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: mount.claim_name.clone(),
                read_only: None,
            }),
            ..Volume::default()
        })
        .collect()
}

/// The container's mounts of the app's volumes, in spec order.
pub fn container_mounts(tier: &ValidatedTier) -> Vec<VolumeMount> {
    tier.volume_mounts
        .iter()
        .map(|mount| VolumeMount {
            name: pod_volume_name(&mount.volume),
            mount_path: mount.mount_path.clone(),
            read_only: mount.read_only.then_some(true),
            ..VolumeMount::default()
        })
        .collect()
}

fn pod_volume_name(volume: &str) -> String {
    format!("{POD_VOLUME_PREFIX}{volume}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::tiered_app::build::test_support::validated;

    const APP: &str = r"
apiVersion: tiered.io/v1alpha1
kind: TieredApp
metadata: {name: shop, namespace: prod, uid: 1234-uid}
spec:
  volumes:
    - {name: files, storageClassName: efs-sc, size: 5Gi}
    - {name: cache, size: 1Gi, accessModes: [ReadWriteOnce]}
  tiers:
    - name: api
      role: application
      image: api:1
      port: 5000
      volumeMounts:
        - {name: files, mountPath: /srv/files}
        - {name: files, mountPath: /srv/public, readOnly: true}
";

    #[test]
    fn each_volume_becomes_a_claim_named_after_the_app_without_an_owner_reference() {
        let claims = desired_claims(&validated(APP));
        assert_eq!(claims.len(), 2);
        let files = &claims[0];
        assert_eq!(files.metadata.name.as_deref(), Some("shop-files"));
        assert_eq!(files.metadata.owner_references, None);
        let labels = files.metadata.labels.as_ref().unwrap();
        assert_eq!(labels.get(CLAIMED_BY).map(String::as_str), Some("1234-uid"));
        assert_eq!(
            labels
                .get("app.kubernetes.io/managed-by")
                .map(String::as_str),
            Some("tiered")
        );
        let spec = files.spec.as_ref().unwrap();
        assert_eq!(spec.access_modes, Some(vec!["ReadWriteMany".to_owned()]));
        assert_eq!(spec.storage_class_name.as_deref(), Some("efs-sc"));
        let storage = &spec.resources.as_ref().unwrap().requests.as_ref().unwrap()["storage"];
        assert_eq!(storage.0, "5Gi");
        let cache = claims[1].spec.as_ref().unwrap();
        assert_eq!(cache.access_modes, Some(vec!["ReadWriteOnce".to_owned()]));
        assert_eq!(cache.storage_class_name, None);
    }

    #[test]
    fn a_claim_carries_no_label_argo_cd_tracks_an_application_by() {
        // A retained claim has no ownerReference: with Argo CD's label tracking, an
        // Application named like the app would take it as its own and prune it.
        for claim in desired_claims(&validated(APP)) {
            let labels = claim.metadata.labels.unwrap();
            assert_eq!(labels.get("app.kubernetes.io/instance"), None, "{labels:?}");
            assert_eq!(
                labels.get("app.kubernetes.io/part-of").map(String::as_str),
                Some("shop")
            );
        }
    }

    #[test]
    fn a_claim_mounted_twice_is_one_pod_volume_with_two_mounts() {
        let app = validated(APP);
        let volumes = pod_volumes(&app.tiers[0]);
        assert_eq!(volumes.len(), 1);
        assert_eq!(volumes[0].name, "volume-files");
        assert_eq!(
            volumes[0]
                .persistent_volume_claim
                .as_ref()
                .unwrap()
                .claim_name,
            "shop-files"
        );
        let mounts = container_mounts(&app.tiers[0]);
        let paths: Vec<_> = mounts
            .iter()
            .map(|m| (m.name.as_str(), m.mount_path.as_str(), m.read_only))
            .collect();
        assert_eq!(
            paths,
            [
                ("volume-files", "/srv/files", None),
                ("volume-files", "/srv/public", Some(true))
            ]
        );
    }
}
