//! Engine parameters of a ManagedDatabase (issue 13 part 4): what `status.parameterGroup`
//! reports of the DB parameter group tiered owns for `spec.parameters`. Types only.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// Annotation that asks for one reboot of the instance, to apply static parameters
/// waiting for it: set it to any value not handled yet (`kubectl annotate mdb NAME
/// tiered.io/reboot=$(date +%s) --overwrite`). tiered never reboots on its own; the
/// handled value is recorded in `status.parameterGroup.reboot`.
pub const REBOOT_ANNOTATION: &str = "tiered.io/reboot";

/// The DB parameter group tiered owns for `spec.parameters`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParameterGroupStatus {
    /// Name of the DB parameter group (`<instance identifier>-<family>`).
    pub name: String,
    /// Its parameter group family, from the engine and version, e.g. `postgres16`.
    pub family: String,
    /// How RDS applies it to the instance: `in-sync`, `applying` or `pending-reboot`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply_status: Option<String>,
    /// True while static parameters (or the group itself) wait for a reboot: annotate
    /// the object `tiered.io/reboot: <any new value>` to reboot it.
    #[serde(default)]
    pub pending_reboot: bool,
    /// The last value of the `tiered.io/reboot` annotation that was handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reboot: Option<String>,
}
