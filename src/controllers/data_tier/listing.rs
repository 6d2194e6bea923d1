//! How `tiered render` lists the AWS calls a data-tier kind would make on a fresh
//! account, for both kinds alike: one call as `{action, parameters}` with the
//! parameters under their AWS names ([`Parameters`]), the placeholders for what is
//! secret or not known offline ([`REDACTED`], [`UID_PLACEHOLDER`], [`offline_owner`]),
//! the tag call that claims an adopted resource ([`claim_call`]), and the offline
//! SDK configuration the kinds' request builders are filled in with (never sent).
//! Pure: each kind's plan (`managed_database::plan`, `cache_cluster::render_plan`)
//! says which calls and which of their inputs.

use std::collections::BTreeMap;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use serde_norway::{Mapping, Value};

use crate::aws::tags::{Owner, SdkTag};

/// What stands for a generated password or AUTH token in the plan.
pub const REDACTED: &str = "<generated>";
/// What stands for the object's UID, unknown until Kubernetes creates it.
pub const UID_PLACEHOLDER: &str = "<uid of the object>";

/// The owner of the object `namespace/name` in `cluster` as the plan knows it: its UID
/// is not known until Kubernetes creates the object ([`UID_PLACEHOLDER`]).
pub fn offline_owner(cluster: &str, namespace: &str, name: &str) -> Owner {
    Owner {
        cluster: cluster.to_owned(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        uid: UID_PLACEHOLDER.to_owned(),
    }
}

/// The AddTagsToResource (`action`: the kind's service's) that claims the adopted
/// resource `resource` (as messages name it, with its id) with `tags`: adoption
/// creates nothing.
pub fn claim_call(action: &str, resource: &str, tags: &BTreeMap<String, String>) -> Value {
    let mut p = Parameters::new();
    p.put("ResourceName", Some(format!("<ARN of {resource}>")));
    p.tag_map(tags);
    p.call(action)
}

/// The SDK configuration of the offline clients that only build requests: region and
/// behaviour version, no credentials, and nothing is ever sent with it.
pub fn offline_config() -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .build()
}

/// A value a request may have, as the plan prints it: an `Option` of the request
/// builder's own input (read by reference through its getters) or of a value the plan
/// makes.
pub trait Listed {
    /// The value, when there is one.
    fn listed(self) -> Option<Value>;
}

impl<T: Into<Value>> Listed for Option<T> {
    fn listed(self) -> Option<Value> {
        self.map(Into::into)
    }
}

impl<T: Clone + Into<Value>> Listed for &Option<T> {
    fn listed(self) -> Option<Value> {
        self.clone().map(Into::into)
    }
}

/// The parameters of one planned call, by their AWS names, in the order put.
#[derive(Debug, Default)]
pub struct Parameters(Mapping);

impl Parameters {
    /// No parameters yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Puts `key` when the request has a value for it.
    pub fn put(&mut self, key: &str, value: impl Listed) {
        if let Some(value) = value.listed() {
            self.0.insert(Value::from(key), value);
        }
    }

    /// The request's tags as a mapping under `Tags` (an empty one without tags).
    pub fn tags<T: SdkTag>(&mut self, tags: Option<&Vec<T>>) {
        let tags: Mapping = tags
            .into_iter()
            .flatten()
            .filter_map(SdkTag::key_value)
            .map(|(key, value)| (Value::from(key), Value::from(value)))
            .collect();
        self.0.insert(Value::from("Tags"), Value::Mapping(tags));
    }

    /// `tags` as a mapping under `Tags`, for a call whose request the plan writes itself.
    pub fn tag_map(&mut self, tags: &BTreeMap<String, String>) {
        let tags: Mapping = tags
            .iter()
            .map(|(key, value)| (Value::from(key.as_str()), Value::from(value.as_str())))
            .collect();
        self.0.insert(Value::from("Tags"), Value::Mapping(tags));
    }

    /// The call `action` with these parameters.
    pub fn call(self, action: &str) -> Value {
        let mut call = Mapping::new();
        call.insert(Value::from("action"), Value::from(action));
        call.insert(Value::from("parameters"), Value::Mapping(self.0));
        Value::Mapping(call)
    }
}

/// A list of strings of a request (security group ids), as the plan prints it.
pub fn strings(values: Option<&Vec<String>>) -> Option<Vec<Value>> {
    values.map(|values| values.iter().map(|v| Value::from(v.as_str())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_lists_what_the_request_has_in_order_and_leaves_out_the_rest() {
        let request = aws_sdk_rds::Client::new(&offline_config())
            .create_db_instance()
            .engine("postgres")
            .multi_az(true);
        let input = request.as_input();
        let mut p = Parameters::new();
        p.put("Engine", input.get_engine());
        p.put("Iops", input.get_iops());
        p.put("MultiAZ", input.get_multi_az());
        p.tags(Some(&vec![
            aws_sdk_rds::types::Tag::builder()
                .key("team")
                .value("news")
                .build(),
        ]));
        let call = p.call("rds:CreateDBInstance");
        assert_eq!(
            serde_norway::to_string(&call).unwrap(),
            "action: rds:CreateDBInstance\nparameters:\n  Engine: postgres\n  MultiAZ: true\n  Tags:\n    team: news\n"
        );
    }

    #[test]
    fn both_sdks_tags_and_a_map_list_alike() {
        let map = BTreeMap::from([("team".to_owned(), "news".to_owned())]);
        let mut from_map = Parameters::new();
        from_map.tag_map(&map);
        let mut from_cache = Parameters::new();
        from_cache.tags(Some(&vec![
            aws_sdk_elasticache::types::Tag::builder()
                .key("team")
                .value("news")
                .build(),
        ]));
        assert_eq!(from_map.call("a"), from_cache.call("a"));
    }
}
