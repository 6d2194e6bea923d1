//! The ownership-tag calls of the data tier. RDS and ElastiCache name these calls,
//! their requests and their `Tag` types alike, but each in its own SDK crate, with no
//! trait in common; `tag_calls!` writes them once, and each kind instantiates it for
//! its SDK in one line. (A trait over both SDKs would need a wrapper type per request
//! and say less.)

/// Writes `add_tags` and `remove_tags` (AddTagsToResource, RemoveTagsFromResource)
/// for the SDK crate `$sdk`, naming the IAM actions of `crate::aws::$actions` and
/// converting tags with `crate::aws::tags::$to_tags`.
macro_rules! tag_calls {
    ($sdk:ident, $actions:ident, $to_tags:ident) => {
        /// Adds (or overwrites) `tags` on the resource `arn`.
        ///
        /// # Errors
        /// The AWS call's.
        pub async fn add_tags(
            client: &$sdk::Client,
            arn: &str,
            tags: &::std::collections::BTreeMap<String, String>,
        ) -> Result<(), $crate::aws::errors::AwsError> {
            client
                .add_tags_to_resource()
                .resource_name(arn)
                .set_tags(Some($crate::aws::tags::$to_tags(tags)))
                .send()
                .await
                .map_err(|error| {
                    $crate::aws::errors::AwsError::from_sdk(
                        $crate::aws::$actions::ADD_TAGS_TO_RESOURCE,
                        error,
                    )
                })?;
            Ok(())
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
            client
                .remove_tags_from_resource()
                .resource_name(arn)
                .set_tag_keys(Some(keys.iter().map(|key| (*key).to_owned()).collect()))
                .send()
                .await
                .map_err(|error| {
                    $crate::aws::errors::AwsError::from_sdk(
                        $crate::aws::$actions::REMOVE_TAGS_FROM_RESOURCE,
                        error,
                    )
                })?;
            Ok(())
        }
    };
}

pub(crate) use tag_calls;
