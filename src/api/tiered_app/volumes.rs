//! Shared file storage of a TieredApp: the volumes the app declares (one
//! PersistentVolumeClaim `<app>-<volume>` each, `ReadWriteMany` by default, e.g. on the
//! EFS CSI driver's storage class), where tiers mount them, and when a claim goes with
//! the app (the StatefulSet's `persistentVolumeClaimRetentionPolicy` is the model).

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::super::shared::DNS_1035_LABEL;

/// `pattern` of a storage size: a Kubernetes quantity of whole or decimal bytes with a
/// binary or decimal suffix or an exponent (`5Gi`, `100G`, `1.5Ti`, `1e9`); signs and the
/// milli/micro/nano suffixes the quantity grammar also allows make no sense for a size.
pub const QUANTITY: &str = r"^[0-9]+(\.[0-9]+)?([KMGTPE]i|[kMGTPE]|[eE][0-9]+)?$";

/// A volume shared by the pods of the tiers that mount it: tiered creates the
/// PersistentVolumeClaim `<app>-<name>` and keeps it when a tier stops mounting it.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SharedVolume {
    /// Name of the volume, a DNS label unique in the app (e.g. `uploads`); the claim is
    /// named `<app>-<name>` and tiers refer to it in `volumeMounts[].name`.
    #[schemars(length(min = 1, max = 40), regex(pattern = DNS_1035_LABEL))]
    pub name: String,
    /// StorageClass of the claim (`spec.storageClassName`), e.g. `efs-sc` for the Amazon
    /// EFS CSI driver (`efs.csi.aws.com`), which gives `ReadWriteMany` across zones.
    /// Without it, the cluster's default class, which on EKS is usually EBS and cannot
    /// be mounted `ReadWriteMany`. Cannot change once the claim exists.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub storage_class_name: Option<String>,
    /// Requested capacity, a Kubernetes quantity (`spec.resources.requests.storage`),
    /// e.g. `5Gi`. EFS is elastic and ignores it, but the API server requires one. It may
    /// grow later (when the StorageClass allows expansion), never shrink.
    #[schemars(length(min = 1, max = 64), regex(pattern = QUANTITY))]
    pub size: String,
    /// Access modes of the claim (`spec.accessModes`). Default `[ReadWriteMany]`: pods of
    /// several tiers, on several nodes and zones, mount it at once. Cannot change once
    /// the claim exists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 4))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub access_modes: Vec<VolumeAccessMode>,
}

/// How a volume may be mounted (`PersistentVolumeClaim.spec.accessModes`).
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
pub enum VolumeAccessMode {
    /// Read-write by pods on many nodes (EFS).
    ReadWriteMany,
    /// Read-only by pods on many nodes.
    ReadOnlyMany,
    /// Read-write by pods on one node.
    ReadWriteOnce,
    /// Read-write by one pod.
    ReadWriteOncePod,
}

/// Where a tier mounts one of the app's `volumes`.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TierVolumeMount {
    /// Name of a volume in the app's `spec.volumes`.
    #[schemars(length(min = 1, max = 40), regex(pattern = DNS_1035_LABEL))]
    pub name: String,
    /// Absolute path in the container where the volume appears, e.g. `/var/lib/newsread`.
    /// Unique within the tier.
    #[schemars(length(min = 2, max = 1024), regex(pattern = r"^/[^:]*$"))]
    pub mount_path: String,
    /// Mount the volume read-only. Default false.
    pub read_only: Option<bool>,
}

/// When the app's claims are deleted (the StatefulSet's
/// `persistentVolumeClaimRetentionPolicy`, `whenDeleted` only: removing a tier or a
/// volume from the spec never deletes a claim).
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct VolumeRetentionPolicy {
    /// What happens to the claims when the TieredApp is deleted: `Retain` (default; the
    /// claims and their data stay, marked with the app's uid) or `Delete` (the claims
    /// carry the app's controller ownerReference, and Kubernetes' garbage collector
    /// deletes them with the app).
    pub when_deleted: Option<ClaimRetention>,
}

/// Whether a claim outlives its app.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::api::shared::field_describes_enum)]
pub enum ClaimRetention {
    /// The claim stays when the app is deleted.
    #[default]
    Retain,
    /// The claim is garbage-collected with the app.
    Delete,
}
