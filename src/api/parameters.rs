//! Engine parameters of a ManagedDatabase or CacheCluster (issue 13 part 4): what
//! `status.parameterGroup` reports of the DB or cache parameter group tiered owns for
//! `spec.parameters`. Types only.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// Annotation that asks for one reboot of the instance, to apply static parameters
/// waiting for it: set it to any value not handled yet (`kubectl annotate mdb NAME
/// tiered.io/reboot=$(date +%s) --overwrite`). tiered never reboots on its own; the
/// handled value is recorded in `status.parameterGroup.reboot`.
pub const REBOOT_ANNOTATION: &str = "tiered.io/reboot";

/// The parameter group tiered owns for `spec.parameters`.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParameterGroupStatus {
    /// Name of the parameter group (`<identifier>-<family>`).
    pub name: String,
    /// Its parameter group family, from the engine and version, e.g. `postgres16` or
    /// `valkey8`.
    pub family: String,
    /// How AWS applies it: `in-sync`, `applying` or `pending-reboot`.
    pub apply_status: Option<String>,
    /// True while static parameters (or the group itself) wait for a reboot. A
    /// ManagedDatabase reboots on the annotation `tiered.io/reboot: <any new value>`; a
    /// CacheCluster's nodes are rebooted in ElastiCache (tiered never reboots them).
    #[serde(default)]
    pub pending_reboot: bool,
    /// The last value of the `tiered.io/reboot` annotation that was handled.
    pub reboot: Option<String>,
}
