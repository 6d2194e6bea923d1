//! The parameter group tiered owns for `spec.parameters` (issue 13 part 4), the calls
//! both kinds make on it written once: who owns a group of our name
//! ([`group_ownership`]: described by name, then its tags read on its ARN), creating
//! it tagged as ours ([`create_group`]), claiming it before a change ([`claim_group`]),
//! releasing the groups tiered made for a retained resource or deleting them once the
//! resource is gone ([`retire_parameter_groups`]). Each kind sends
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

/// What becomes of the parameter groups tiered made for a resource that leaves its
/// hands ([`retire_parameter_groups`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retirement {
    /// `deletionPolicy: Retain`: each stays attached to the retained resource, so like
    /// that resource it loses tiered's ownership tags (a later object of the same
    /// namespace and name would otherwise count it as its own).
    Release,
    /// The resource is gone: each is deleted.
    Delete,
}

/// Retires (`how`) the parameter groups tiered made for the resource `id`: those of the
/// account named `<id>-<family>` for their own family, found by one list of the
/// account's groups whatever the spec says now (a group stays attached when
/// `spec.parameters` empties), and not by what the status recorded, which misses a
/// group created in a pass that then failed (its attachment refused or throttled, the
/// operator killed) before the status was written. Only groups tagged as `owner`'s
/// are touched; one of that name tagged otherwise, or not at all, is left.
///
/// # Errors
/// The first failed list, describe, tag read, tag removal or delete.
pub async fn retire_parameter_groups<C: GroupCalls>(
    calls: &C,
    id: &str,
    owner: &Owner,
    how: Retirement,
) -> Result<(), AwsError> {
    for name in listed_group_names(calls, id).await? {
        retire_group(calls, &name, owner, how).await?;
    }
    Ok(())
}

/// Retires (`how`) the parameter group `group` when its tags name `owner`; a group
/// gone, or tagged otherwise, or not at all, is left as it is.
///
/// # Errors
/// The describe's (but for a missing group), the tag read's, the tag removal's or the
/// delete's (but for a group already gone).
pub async fn retire_group<C: GroupCalls>(
    calls: &C,
    group: &str,
    owner: &Owner,
    how: Retirement,
) -> Result<(), AwsError> {
    let arn = match owned_arn(calls, group, owner).await? {
        Some((Some(arn), Ownership::Ours)) => arn,
        None => return Ok(()),
        Some(_) => {
            tracing::info!(group = %group, "left {}: not tagged as this object's", C::KIND);
            return Ok(());
        }
    };
    match how {
        Retirement::Release => calls.remove_tags(&arn, &OWNERSHIP_KEYS).await,
        Retirement::Delete => match calls.send_delete_group(group).await {
            Ok(()) => {
                tracing::info!(group = %group, "deleted {}", C::KIND);
                Ok(())
            }
            Err(error) if C::group_missing(&error) => Ok(()),
            Err(error) => Err(error),
        },
    }
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

/// Writes [`GroupCalls`] for `$kind`, sending on its SDK client field `$client`. RDS
/// and ElastiCache drive their parameter groups the same way: one describe call
/// (`$describe`, IAM action `$DESCRIBE`) answers a group by name and, paged, lists
/// them all; the create call (`$create`) takes name, family, description and tags; the
/// delete call (`$delete`) takes the name. Only the SDK's names differ
/// (`db_parameter_group_…`, `cache_parameter_group_…`), in two SDK crates with no
/// trait in common, so the calls are written once here (as `tag_calls!` writes the tag
/// calls) and each kind names its SDK's: `$groups` the described groups, `$name` and
/// `$family` a group's name and family (setter and getter alike), `$arn` its ARN, and
/// `$to_tags` the tag conversion. An optional `missing` is the kind's
/// [`GroupCalls::group_missing`].
macro_rules! group_calls {
    (
        $kind:ty, $client:ident, kind: $what:expr, tags: $to_tags:path,
        describe: $describe:ident($DESCRIBE:path) -> $groups:ident,
        create: $create:ident($CREATE:path),
        delete: $delete:ident($DELETE:path),
        fields: $name:ident, $family:ident, $arn:ident
        $(, missing: $missing:path)? $(,)?
    ) => {
        impl $crate::controllers::data_tier::parameter_groups::GroupCalls for $kind {
            const KIND: &'static str = $what;

            $(
                fn group_missing(error: &$crate::aws::errors::AwsError) -> bool {
                    $missing(error)
                }
            )?

            async fn describe_group_arn(
                &self,
                group: &str,
            ) -> Result<Option<Option<String>>, $crate::aws::errors::AwsError> {
                let request = self.$client.$describe().$name(group);
                let described = $crate::aws::errors::sent($DESCRIBE, request.send()).await?;
                let found = described.$groups().first();
                Ok(found.map(|found| found.$arn().map(str::to_owned)))
            }

            async fn send_create_group(
                &self,
                group: &str,
                family: &str,
                description: String,
                tags: &::std::collections::BTreeMap<String, String>,
            ) -> Result<(), $crate::aws::errors::AwsError> {
                let request = self
                    .$client
                    .$create()
                    .$name(group)
                    .$family(family)
                    .description(description)
                    .set_tags(Some($to_tags(tags)));
                $crate::aws::errors::sent($CREATE, request.send())
                    .await
                    .map(drop)
            }

            async fn send_delete_group(
                &self,
                group: &str,
            ) -> Result<(), $crate::aws::errors::AwsError> {
                let request = self.$client.$delete().$name(group);
                $crate::aws::errors::sent($DELETE, request.send())
                    .await
                    .map(drop)
            }

            /// Every page (the SDK's paginator follows `Marker`).
            async fn list_groups(
                &self,
            ) -> Result<
                Vec<$crate::controllers::data_tier::parameter_groups::ListedGroup>,
                $crate::aws::errors::AwsError,
            > {
                let groups: Vec<_> = self
                    .$client
                    .$describe()
                    .into_paginator()
                    .items()
                    .send()
                    .collect::<Result<_, _>>()
                    .await
                    .map_err(|e| $crate::aws::errors::AwsError::from_sdk($DESCRIBE, e))?;
                Ok(groups
                    .iter()
                    .map(|group| {
                        (
                            group.$name().map(str::to_owned),
                            group.$family().map(str::to_owned),
                        )
                    })
                    .collect())
            }
        }
    };
}

pub(crate) use group_calls;
