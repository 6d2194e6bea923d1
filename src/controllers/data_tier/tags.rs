//! The tag calls of the data tier. RDS and ElastiCache name these calls,
//! their requests and their `Tag` types alike, but each in its own SDK crate, with no
//! trait in common; `tag_calls!` writes them once, and each kind instantiates it for
//! its SDK in one line, which also gives the kind [`TagCalls`], the tag calls the
//! shared steps make. (A trait over both SDKs would need a wrapper type per request
//! and say less.) [`write_tags`] sends what the pure `diff::tag_changes` decides, for
//! any resource of either kind (a primary, a read replica, a replication group).

use std::collections::BTreeMap;
use std::future::Future;

use crate::aws::errors::AwsError;
use crate::controllers::data_tier::diff::tag_changes;

/// The tag calls of one kind's AWS client (`tag_calls!` implements it).
pub trait TagCalls: Sync {
    /// The tags of the resource `arn`, as key and value (ListTagsForResource).
    fn list_tags(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<Vec<(String, String)>, AwsError>> + Send;
    /// Adds (or overwrites) `tags` on the resource `arn`.
    fn add_tags(
        &self,
        arn: &str,
        tags: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Removes the tags `keys` from the resource `arn`.
    fn remove_tags(
        &self,
        arn: &str,
        keys: &[&str],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// Brings the tags of the resource `arn` (tagged `current` now) to `desired`: first
/// removes the user keys tiered set and the spec dropped, then adds what is missing
/// with the new `tiered.io/tag-keys` record, so that a failed removal keeps the record
/// that names the key, and the next pass tries again. Returns the number of calls made.
///
/// # Errors
/// The AWS call's.
pub async fn write_tags<K: TagCalls>(
    kind: &K,
    arn: &str,
    current: &[(String, String)],
    desired: &BTreeMap<String, String>,
) -> Result<u32, AwsError> {
    let changes = tag_changes(current, desired);
    let mut calls = 0;
    if !changes.remove.is_empty() {
        let keys: Vec<&str> = changes.remove.iter().map(String::as_str).collect();
        kind.remove_tags(arn, &keys).await?;
        tracing::info!(arn = %arn, keys = ?keys, "removed tags dropped from the spec");
        calls += 1;
    }
    if !changes.add.is_empty() {
        kind.add_tags(arn, &changes.add).await?;
        calls += 1;
    }
    Ok(calls)
}

/// Writes `list_tags`, `add_tags` and `remove_tags` (ListTagsForResource,
/// AddTagsToResource, RemoveTagsFromResource) for the SDK crate `$sdk`, and
/// [`TagCalls`] for `$kind` with them on its client field `$client`, naming the IAM actions of `crate::aws::$actions` and
/// converting tags with `crate::aws::tags::$to_tags`.
macro_rules! tag_calls {
    ($kind:ty, $client:ident, $sdk:ident, $actions:ident, $to_tags:ident) => {
        impl $crate::controllers::data_tier::tags::TagCalls for $kind {
            async fn list_tags(
                &self,
                arn: &str,
            ) -> Result<Vec<(String, String)>, $crate::aws::errors::AwsError> {
                list_tags(&self.$client, arn).await
            }

            async fn add_tags(
                &self,
                arn: &str,
                tags: &::std::collections::BTreeMap<String, String>,
            ) -> Result<(), $crate::aws::errors::AwsError> {
                add_tags(&self.$client, arn, tags).await
            }

            async fn remove_tags(
                &self,
                arn: &str,
                keys: &[&str],
            ) -> Result<(), $crate::aws::errors::AwsError> {
                remove_tags(&self.$client, arn, keys).await
            }
        }

        /// The tags of the resource `arn`, as key and value.
        ///
        /// # Errors
        /// The AWS call's.
        pub async fn list_tags(
            client: &$sdk::Client,
            arn: &str,
        ) -> Result<Vec<(String, String)>, $crate::aws::errors::AwsError> {
            let request = client.list_tags_for_resource().resource_name(arn);
            let output = $crate::aws::errors::sent(
                $crate::aws::$actions::LIST_TAGS_FOR_RESOURCE,
                request.send(),
            )
            .await?;
            Ok($crate::controllers::data_tier::diff::tag_pairs(
                output.tag_list(),
                $sdk::types::Tag::key,
                $sdk::types::Tag::value,
            ))
        }

        /// Adds (or overwrites) `tags` on the resource `arn`.
        ///
        /// # Errors
        /// The AWS call's.
        pub async fn add_tags(
            client: &$sdk::Client,
            arn: &str,
            tags: &::std::collections::BTreeMap<String, String>,
        ) -> Result<(), $crate::aws::errors::AwsError> {
            let request = client
                .add_tags_to_resource()
                .resource_name(arn)
                .set_tags(Some($crate::aws::tags::$to_tags(tags)));
            $crate::aws::errors::sent($crate::aws::$actions::ADD_TAGS_TO_RESOURCE, request.send())
                .await
                .map(drop)
        }

        /// Removes the tags `keys` from the resource `arn`.
        ///
        /// # Errors
        /// The AWS call's.
        pub async fn remove_tags(
            client: &$sdk::Client,
            arn: &str,
            keys: &[&str],
        ) -> Result<(), $crate::aws::errors::AwsError> {
            let request = client
                .remove_tags_from_resource()
                .resource_name(arn)
                .set_tag_keys(Some(keys.iter().map(|key| (*key).to_owned()).collect()));
            $crate::aws::errors::sent(
                $crate::aws::$actions::REMOVE_TAGS_FROM_RESOURCE,
                request.send(),
            )
            .await
            .map(drop)
        }
    };
}

pub(crate) use tag_calls;
