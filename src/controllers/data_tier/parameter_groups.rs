//! The parameter group tiered owns for `spec.parameters` (issue 13 part 4), the calls
//! both kinds make on it written once: who owns a group of our name
//! ([`group_ownership`]: described by name, then its tags read on its ARN), creating
//! it tagged as ours ([`create_group`]), claiming it before a change ([`claim_group`]),
//! releasing it with a retained resource ([`release_group`]) and deleting the groups
//! tiered made once the resource is gone ([`delete_parameter_groups`]). Each kind sends
//! the calls through [`GroupCalls`] (RDS and ElastiCache name them alike, in two SDKs
//! with no trait in common); what a group holds and how it is applied stays in the
//! kind's `parameters.rs`.

use std::collections::BTreeMap;
use std::future::Future;

use crate::aws::errors::{AwsError, ErrorKind};
use crate::aws::tags::{OWNERSHIP_KEYS, Owner, Ownership, ownership};
use crate::controllers::data_tier::parameters::owned_group_names;
use crate::controllers::data_tier::tags::TagCalls;

/// A parameter group as a listing gives it: its name and family.
pub type ListedGroup = (Option<String>, Option<String>);

/// One kind's calls on its parameter groups.
pub trait GroupCalls: TagCalls {
    /// How messages name the group ("DB parameter group", "cache parameter group").
    const KIND: &'static str;

    /// Whether `error` says the group does not exist; the default: `NotFound`.
    fn group_missing(error: &AwsError) -> bool {
        error.kind == ErrorKind::NotFound
    }
    /// The ARN of the group `group`: `None` when it does not exist, `Some(None)` when
    /// AWS describes it without one.
    fn describe_group_arn(
        &self,
        group: &str,
    ) -> impl Future<Output = Result<Option<Option<String>>, AwsError>> + Send;
    /// Sends the create call of `group` in `family`, with `description` and `tags`.
    fn send_create_group(
        &self,
        group: &str,
        family: &str,
        description: String,
        tags: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Sends the delete call of `group`.
    fn send_delete_group(&self, group: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Every group of the account (every page), as name and family.
    fn list_groups(&self) -> impl Future<Output = Result<Vec<ListedGroup>, AwsError>> + Send;
}

/// Who owns the parameter group `group`, judged from its tags (ListTagsForResource on
/// its ARN: neither service lists a group's tags in its description); `None` when it
/// does not exist.
///
/// # Errors
/// The describe's (but for a missing group) or the tag read's.
pub async fn group_ownership<C: GroupCalls>(
    calls: &C,
    group: &str,
    owner: &Owner,
) -> Result<Option<Ownership>, AwsError> {
    Ok(owned_arn(calls, group, owner)
        .await?
        .map(|(_, ownership)| ownership))
}

/// [`group_ownership`], with the group's ARN when AWS gives one.
async fn owned_arn<C: GroupCalls>(
    calls: &C,
    group: &str,
    owner: &Owner,
) -> Result<Option<(Option<String>, Ownership)>, AwsError> {
    let arn = match calls.describe_group_arn(group).await {
        Ok(Some(arn)) => arn,
        Ok(None) => return Ok(None),
        Err(error) if C::group_missing(&error) => return Ok(None),
        Err(error) => return Err(error),
    };
    let Some(arn) = arn else {
        // Without an ARN its tags cannot be read: not provably ours.
        return Ok(Some((None, Ownership::Unowned)));
    };
    let tags = calls.list_tags(&arn).await?;
    let ownership = ownership(
        tags.iter()
            .map(|(key, value)| (key.as_str(), value.as_str())),
        owner,
    );
    Ok(Some((Some(arn), ownership)))
}

/// Releases the parameter group `group` under `deletionPolicy: Retain`: it stays
/// attached to the retained resource, so like that resource it loses tiered's
/// ownership tags (a later object of the same namespace and name would otherwise count
/// it as its own). A group gone, or not tagged as `owner`'s, is left as it is.
///
/// # Errors
/// The describe's (but for a missing group), the tag read's or the tag removal's.
pub async fn release_group<C: GroupCalls>(
    calls: &C,
    group: &str,
    owner: &Owner,
) -> Result<(), AwsError> {
    match owned_arn(calls, group, owner).await? {
        Some((Some(arn), Ownership::Ours)) => calls.remove_tags(&arn, &OWNERSHIP_KEYS).await,
        _ => Ok(()),
    }
}

/// Releases the parameter groups tiered made for the retained resource `id` ([`release_group`]
/// on each group of the account named `<id>-<family>` for its own family): found by one
/// list of the account's groups, not by what the status recorded, which misses a group
/// created in a pass that then failed (its attachment refused or throttled, the
/// operator killed) before the status was written.
///
/// # Errors
/// The first failed list, describe, tag read or tag removal.
pub async fn release_parameter_groups<C: GroupCalls>(
    calls: &C,
    id: &str,
    owner: &Owner,
) -> Result<(), AwsError> {
    for name in listed_group_names(calls, id).await? {
        release_group(calls, &name, owner).await?;
    }
    Ok(())
}

/// The groups of the account named `<id>-<family>` for their own family.
async fn listed_group_names<C: GroupCalls>(calls: &C, id: &str) -> Result<Vec<String>, AwsError> {
    let groups = calls.list_groups().await?;
    Ok(owned_group_names(
        id,
        groups
            .iter()
            .map(|(name, family)| (name.as_deref(), family.as_deref())),
    ))
}

/// Creates the group, tagged with `tags`; one that exists already (a lost response)
/// is fine.
///
/// # Errors
/// The create call's, but for a conflict.
pub async fn create_group<C: GroupCalls>(
    calls: &C,
    group: &str,
    family: &str,
    description: String,
    tags: &BTreeMap<String, String>,
) -> Result<(), AwsError> {
    match calls
        .send_create_group(group, family, description, tags)
        .await
    {
        Ok(()) => {
            tracing::info!(group = %group, family = %family, "created {}", C::KIND);
            Ok(())
        }
        Err(error) if error.kind == ErrorKind::Conflict => Ok(()),
        Err(error) => Err(error),
    }
}

/// What [`claim_group`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// There was none: tiered created it (one mutating call).
    Created,
    /// It exists, tagged as this object's.
    Ours,
    /// It exists and is not this object's: it is never changed, attached or deleted.
    Foreign,
}

/// The group `group` before tiered changes or attaches it: created (tagged `tags`,
/// described as `description`) when missing; whether it is this object's (`owner`)
/// when not.
///
/// # Errors
/// The describe's, the tag read's or the create call's.
pub async fn claim_group<C: GroupCalls>(
    calls: &C,
    group: &str,
    family: &str,
    description: String,
    tags: &BTreeMap<String, String>,
) -> Result<Claim, AwsError> {
    Ok(
        match group_ownership(calls, group, &Owner::from_tags(tags)).await? {
            None => {
                create_group(calls, group, family, description, tags).await?;
                Claim::Created
            }
            Some(Ownership::Ours) => Claim::Ours,
            Some(_) => Claim::Foreign,
        },
    )
}

/// Deletes the parameter groups tiered made for the (deleted) resource `id`: those of
/// the account named `<id>-<family>` for their own family (one list of the account's
/// groups, whatever the spec says now: a group stays attached when `spec.parameters`
/// empties) whose tags name `owner`; a group of that name tagged otherwise, or not at
/// all, is left. A group already gone is fine.
///
/// # Errors
/// The first failed list, describe, tag read or delete.
pub async fn delete_parameter_groups<C: GroupCalls>(
    calls: &C,
    id: &str,
    owner: &Owner,
) -> Result<(), AwsError> {
    for name in listed_group_names(calls, id).await? {
        match group_ownership(calls, &name, owner).await? {
            Some(Ownership::Ours) => {}
            None => continue,
            Some(_) => {
                tracing::info!(group = %name, "left {}: not tagged as this object's", C::KIND);
                continue;
            }
        }
        match calls.send_delete_group(&name).await {
            Ok(()) => tracing::info!(group = %name, "deleted {}", C::KIND),
            Err(error) if C::group_missing(&error) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}
