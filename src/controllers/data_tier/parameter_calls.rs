//! What a pass does to the parameter group tiered owns for `spec.parameters` (issue 13
//! part 4), the steps both kinds take written once ([`converge_group`]): a group the
//! resource does not use yet is claimed first ([`claim_group`]: created tagged as
//! ours, or found ours); its user-set parameters are read once; a group the resource
//! uses already has its tags read before the first change of the pass, so that a
//! group tiered did not create is never changed; then what differs is set and what the
//! spec no longer names reset ([`apply_changes`]), and what the pass then says
//! ([`attaching`], [`applying`]). Each kind sends the parameter calls through
//! [`ParameterCalls`] (RDS and ElastiCache take them in different shapes: RDS wants an
//! apply method per parameter); the call that attaches the group and what the status
//! says stay in the kind's `parameters`.

use std::collections::BTreeMap;
use std::future::Future;

use crate::aws::errors::{AwsError, ErrorKind};
use crate::aws::tags::{Owner, Ownership};
use crate::controllers::data_tier::parameter_groups::{
    Claim, GroupCalls, claim_group, group_ownership,
};
use crate::controllers::data_tier::parameters::{
    PARAMETERS_PER_CALL, ParameterChanges, foreign_group, parameter_changes, refused, stalled_on,
};
use crate::controllers::data_tier::status::Progress;

/// A batch of parameters AWS refused as invalid: the ones its message names
/// (`parameters::refused`) and its error.
#[derive(Debug)]
pub struct Refused {
    /// The parameters the refusal names; all of the batch when it names none.
    pub names: Vec<String>,
    /// AWS's error.
    pub error: AwsError,
}

impl Refused {
    /// What the answer to a set call of `batch` says: nothing when AWS took it, the
    /// refusal when it refused the parameters as invalid.
    ///
    /// # Errors
    /// Any other failure of the call.
    pub fn of(
        batch: &[(String, String)],
        answer: Result<(), AwsError>,
    ) -> Result<Option<Self>, AwsError> {
        match answer {
            Ok(()) => Ok(None),
            Err(error) if error.kind == ErrorKind::InvalidInput => Ok(Some(Self {
                names: refused(batch, &error.aws_message())
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                error,
            })),
            Err(error) => Err(error),
        }
    }

    /// The `Stalled` progress that names the refused parameters as
    /// `spec.parameters.<name>`, in the words of `service`.
    pub fn stalled(&self, service: &str) -> Progress {
        let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
        stalled_on(&names, &self.error, service)
    }
}

/// One kind's calls on the parameters of a group.
pub trait ParameterCalls: GroupCalls {
    /// How messages name the service ("RDS", "ElastiCache").
    const SERVICE: &'static str;
    /// A user-set parameter as the kind reads it (its value, and for RDS the
    /// `ApplyType` a reset needs).
    type Parameter: Send + Sync;

    /// What the kind reads of the group before it sets parameters: RDS the
    /// `ApplyType` of each, ElastiCache nothing (it applies each as its `ChangeType`
    /// says).
    type ApplyTypes: Send + Sync;

    /// The value of `parameter`.
    fn value(parameter: &Self::Parameter) -> &str;
    /// The user-set parameters of `group` (`Source=user`, every page), by name.
    fn user_parameters(
        &self,
        group: &str,
    ) -> impl Future<Output = Result<BTreeMap<String, Self::Parameter>, AwsError>> + Send;
    /// What [`ParameterCalls::send_set`] needs to know of `group`.
    fn apply_types(
        &self,
        group: &str,
    ) -> impl Future<Output = Result<Self::ApplyTypes, AwsError>> + Send;
    /// Sends one modify call that sets `batch` in `group`.
    fn send_set(
        &self,
        group: &str,
        batch: &[(String, String)],
        types: &Self::ApplyTypes,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Sends one reset call that puts `batch` back to the family default in `group`
    /// (`current` is what [`ParameterCalls::user_parameters`] read).
    fn send_reset(
        &self,
        group: &str,
        batch: &[String],
        current: &BTreeMap<String, Self::Parameter>,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// Sets `set` in `group`, at most [`PARAMETERS_PER_CALL`] a call, each call counted in
/// `mutations` (answered or not); the refusal of the first batch AWS refuses as
/// invalid, after which nothing more is sent.
///
/// # Errors
/// A failed read or call (a refusal is `Ok(Some(_))`).
pub async fn set_parameters<K: ParameterCalls>(
    kind: &K,
    group: &str,
    set: &[(String, String)],
    mutations: &mut u32,
) -> Result<Option<Refused>, AwsError> {
    let types = kind.apply_types(group).await?;
    for batch in set.chunks(PARAMETERS_PER_CALL) {
        let answer = kind.send_set(group, batch, &types).await;
        *mutations += 1;
        if let Some(refused) = Refused::of(batch, answer)? {
            return Ok(Some(refused));
        }
    }
    Ok(None)
}

/// Resets `reset` in `group` to the family default, at most [`PARAMETERS_PER_CALL`] a
/// call, each call counted in `mutations`.
///
/// # Errors
/// The first failed call.
pub async fn reset_parameters<K: ParameterCalls>(
    kind: &K,
    group: &str,
    reset: &[String],
    current: &BTreeMap<String, K::Parameter>,
    mutations: &mut u32,
) -> Result<(), AwsError> {
    for batch in reset.chunks(PARAMETERS_PER_CALL) {
        kind.send_reset(group, batch, current).await?;
        *mutations += 1;
    }
    Ok(())
}

/// The values of the parameters `current`, by name.
pub fn values<K: ParameterCalls>(
    current: &BTreeMap<String, K::Parameter>,
) -> BTreeMap<String, String> {
    current
        .iter()
        .map(|(name, parameter)| (name.clone(), K::value(parameter).to_owned()))
        .collect()
}

/// Sends `changes` to `group` (`current` is what was read): the sets, then the resets.
///
/// # Errors
/// A failed call (a refused set is `Ok(Some(_))`).
pub async fn apply_changes<K: ParameterCalls>(
    kind: &K,
    group: &str,
    current: &BTreeMap<String, K::Parameter>,
    changes: &ParameterChanges,
    mutations: &mut u32,
) -> Result<Option<Refused>, AwsError> {
    if !changes.set.is_empty()
        && let Some(refused) = set_parameters(kind, group, &changes.set, mutations).await?
    {
        return Ok(Some(refused));
    }
    if !changes.reset.is_empty() {
        reset_parameters(kind, group, &changes.reset, current, mutations).await?;
    }
    Ok(None)
}

/// The group of a pass, as the kind found it.
#[derive(Clone, Copy, Debug)]
pub struct GroupPass<'a> {
    /// The group tiered owns for the resource (`parameters::parameter_group_name`).
    pub group: &'a str,
    /// Its family.
    pub family: &'a str,
    /// What it should hold: the spec's parameters, and what the kind adds.
    pub wanted: &'a BTreeMap<String, String>,
    /// Whether the spec names parameters (`spec.parameters` not empty).
    pub requested: bool,
    /// Whether the resource uses the group already.
    pub attached: bool,
    /// The group's description, should it be created.
    pub description: &'a str,
    /// The resource's tags: the group's, should it be created, and its owner.
    pub tags: &'a BTreeMap<String, String>,
}

/// Where [`converge_group`] left the group.
#[derive(Debug)]
pub enum GroupStep {
    /// The pass goes no further with the parameters: `None` when there is nothing
    /// to do (no `spec.parameters` and the group unused, or used but not ours), else
    /// the progress that ends the pass (the group is not ours, AWS refused a
    /// parameter).
    Stop(Option<Progress>),
    /// The group holds the wanted parameters now; `mutated` when this pass created
    /// or changed it, `changes` what it sent.
    Applied {
        /// Whether this pass created or changed the group.
        mutated: bool,
        /// The sets and resets sent.
        changes: ParameterChanges,
    },
}

/// Brings `pass.group` to `pass.wanted`, counting each mutating call in `mutations`:
/// nothing when the spec names no parameters and the resource does not use the group;
/// a group not used yet is claimed ([`claim_group`]); its user-set parameters are read
/// once; a group in use is checked to be ours before it is changed (not ours: `Stalled`
/// when the spec names parameters, else nothing); then the changes go out
/// ([`apply_changes`]). A group of this name tiered did not create (an administrator's,
/// or one left on an adopted resource) is never changed.
///
/// # Errors
/// A failed describe, tag read, create or parameter call.
pub async fn converge_group<K: ParameterCalls>(
    kind: &K,
    pass: GroupPass<'_>,
    mutations: &mut u32,
) -> Result<GroupStep, AwsError> {
    let GroupPass {
        group,
        family,
        wanted,
        requested,
        attached,
        description,
        tags,
    } = pass;
    if !requested && !attached {
        return Ok(GroupStep::Stop(None));
    }
    let mut created = false;
    if !attached {
        match claim_group(kind, group, family, description.to_owned(), tags).await? {
            Claim::Created => {
                *mutations += 1;
                created = true;
            }
            Claim::Ours => {}
            Claim::Foreign => return Ok(GroupStep::Stop(Some(foreign_group(K::KIND, group)))),
        }
    }
    let current = kind.user_parameters(group).await?;
    let changes = parameter_changes(wanted, &values::<K>(&current));
    // The claim above checked a group not used yet; one in use is checked here, only
    // when this pass would change it.
    if attached
        && !changes.is_empty()
        && group_ownership(kind, group, &Owner::from_tags(tags)).await? != Some(Ownership::Ours)
    {
        // In use but not ours: with no spec.parameters there is nothing to ask of
        // it; with some, the user learns why they are not applied.
        return Ok(GroupStep::Stop(
            requested.then(|| foreign_group(K::KIND, group)),
        ));
    }
    if let Some(refused) = apply_changes(kind, group, &current, &changes, mutations).await? {
        return Ok(GroupStep::Stop(Some(refused.stalled(K::SERVICE))));
    }
    Ok(GroupStep::Applied {
        mutated: created || !changes.is_empty(),
        changes,
    })
}

/// The progress of a pass that sent the call attaching `group` to the resource `id`,
/// counted in `mutations`.
pub fn attaching<K: ParameterCalls>(id: &str, group: &str, mutations: &mut u32) -> Progress {
    *mutations += 1;
    tracing::info!(id = %id, group = %group, "attaching the {}", K::KIND);
    Progress::aws_in_progress(format!("attaching {} {group}", K::KIND))
}

/// The progress of a pass that changed the parameters of `group` (`changes`; or
/// created it) for the resource `id`.
pub fn applying<K: ParameterCalls>(id: &str, group: &str, changes: &ParameterChanges) -> Progress {
    let (set, reset) = (changes.set.len(), changes.reset.len());
    tracing::info!(id = %id, group = %group, set, reset, "changed the parameters of the {}", K::KIND);
    Progress::aws_in_progress(format!("applying parameters in {} {group}", K::KIND))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(kind: ErrorKind, message: &str) -> AwsError {
        AwsError {
            kind,
            operation: "rds:ModifyDBParameterGroup",
            code: Some("InvalidParameterValue".to_owned()),
            message: Some(message.to_owned()),
            source: Box::new(std::io::Error::other(message.to_owned())),
        }
    }

    #[test]
    fn only_an_invalid_input_answer_is_a_refusal_naming_what_aws_names() {
        let batch = [
            ("max_connections".to_owned(), "x".to_owned()),
            ("work_mem".to_owned(), "4MB".to_owned()),
        ];
        assert!(matches!(Refused::of(&batch, Ok(())), Ok(None)));
        let refused = Refused::of(
            &batch,
            Err(error(
                ErrorKind::InvalidInput,
                "invalid value for max_connections",
            )),
        )
        .unwrap()
        .unwrap();
        assert_eq!(refused.names, ["max_connections"]);
        let Progress::Stalled { message, .. } = refused.stalled("RDS") else {
            panic!("a refusal stalls");
        };
        assert!(
            message.starts_with("spec.parameters.max_connections: RDS refused"),
            "{message}"
        );
        let throttled = Refused::of(&batch, Err(error(ErrorKind::Transient, "slow down")));
        assert_eq!(throttled.unwrap_err().kind, ErrorKind::Transient);
    }
}
