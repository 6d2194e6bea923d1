//! Engine parameters, the part both kinds share (issue 13 part 4): what a pass changes
//! in the parameter group tiered owns ([`parameter_changes`]: set what differs, reset
//! what the spec no longer names), which parameters AWS's refusal names ([`refused`])
//! and the `Stalled` progress that names them as `spec.parameters.<name>`
//! ([`stalled_on`]), which groups of a listing are tiered's ([`owned_group_names`]),
//! a group's status ([`group_status`]).
//! Pure; the calls are in each kind's `parameters.rs`.

use std::collections::BTreeMap;

use crate::api::conditions::reasons;
use crate::api::parameters::ParameterGroupStatus;
use crate::aws::errors::AwsError;
use crate::controllers::data_tier::status::Progress;
use crate::runtime::error::Category;

/// At most this many parameters in one modify or reset call (the limit of RDS'
/// ModifyDBParameterGroup and ElastiCache's ModifyCacheParameterGroup alike).
pub const PARAMETERS_PER_CALL: usize = 20;

/// The `ParameterApplyStatus` of a node or instance while a reboot is needed (RDS and
/// ElastiCache alike).
pub const PENDING_REBOOT: &str = "pending-reboot";

/// The status of the group `name` of `family` whose `ParameterApplyStatus` on the
/// resource is `apply_status` (`None`: not attached): whether a reboot is pending.
pub fn group_status(
    name: &str,
    family: &str,
    apply_status: Option<String>,
) -> ParameterGroupStatus {
    ParameterGroupStatus {
        name: name.to_owned(),
        family: family.to_owned(),
        pending_reboot: apply_status.as_deref() == Some(PENDING_REBOOT),
        apply_status,
        reboot: None,
    }
}

/// The name of the group tiered owns for the resource `id` and `family`: lowercase
/// (RDS stores it so), the family's dots as hyphens (`…-mysql8-0`, `…-redis6-x`).
pub fn parameter_group_name(id: &str, family: &str) -> String {
    format!("{id}-{}", family.replace('.', "-")).to_lowercase()
}

/// The groups among `groups` (name, family, as AWS lists them) that are the group tiered
/// owns for `id` for their own family.
pub fn owned_group_names<'a>(
    id: &str,
    groups: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>,
) -> Vec<String> {
    groups
        .into_iter()
        .filter_map(|(name, family)| {
            let (name, family) = (name?, family?);
            (name == parameter_group_name(id, family)).then(|| name.to_owned())
        })
        .collect()
}

/// What a pass changes in the group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParameterChanges {
    /// Parameters to set, with their values (the spec's order: by name).
    pub set: Vec<(String, String)>,
    /// User-set parameters the spec no longer names, back to the family default.
    pub reset: Vec<String>,
}

impl ParameterChanges {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.reset.is_empty()
    }
}

/// The changes that bring the group's user-set parameters (`current`) to `wanted`.
pub fn parameter_changes(
    wanted: &BTreeMap<String, String>,
    current: &BTreeMap<String, String>,
) -> ParameterChanges {
    ParameterChanges {
        set: wanted
            .iter()
            .filter(|(name, value)| current.get(*name) != Some(*value))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect(),
        reset: current
            .keys()
            .filter(|name| !wanted.contains_key(*name))
            .cloned()
            .collect(),
    }
}

/// The parameters of `batch` that AWS's refusal names (its message quotes the name);
/// all of them when it names none.
pub fn refused<'a>(batch: &'a [(String, String)], aws_message: &str) -> Vec<&'a str> {
    let named: Vec<&str> = batch
        .iter()
        .map(|(name, _)| name.as_str())
        .filter(|name| aws_message.contains(name))
        .collect();
    if named.is_empty() {
        batch.iter().map(|(name, _)| name.as_str()).collect()
    } else {
        named
    }
}

/// The `Stalled` progress of `spec.parameters` when the parameter group tiered would own
/// (`kind` names it: "DB parameter group", "cache parameter group") exists but its tags
/// do not name this object (DESIGN.md "Ownership": what tiered did not create or adopt
/// is never changed or deleted). The group is left as it is.
pub fn foreign_group(kind: &str, group: &str) -> Progress {
    Progress::Stalled {
        reason: reasons::NAME_CONFLICT,
        category: Category::OwnedElsewhere,
        message: foreign_group_message(kind, group),
    }
}

/// The words of [`foreign_group`]: the field, the group and what to do.
pub fn foreign_group_message(kind: &str, group: &str) -> String {
    format!(
        "spec.parameters: the {kind} {group} exists and is not tiered's (its tags do not \
         name this object), so tiered does not change it; rename or delete that group, or \
         remove spec.parameters"
    )
}

/// The `Stalled` progress of parameters `service` refused with `error`.
pub fn stalled_on(names: &[&str], error: &AwsError, service: &str) -> Progress {
    let fields: Vec<String> = names
        .iter()
        .map(|name| format!("spec.parameters.{name}"))
        .collect();
    Progress::Stalled {
        reason: reasons::AWS_INVALID_REQUEST,
        category: Category::InvalidInput,
        message: format!(
            "{}: {service} refused the parameter ({}); fix or remove it",
            fields.join(", "),
            error.aws_message()
        ),
    }
}
