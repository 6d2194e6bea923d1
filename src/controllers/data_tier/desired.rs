//! What both kinds' desired state takes alike from the spec: where the resource runs
//! (`crate::api::shared::AwsNetwork`), when it is maintained, whether changes apply
//! at once, and its tags, as AWS spells and compares them. Each kind's own settings
//! are in its `desired`. Pure.

use std::collections::BTreeMap;

use crate::api::shared::AwsNetwork;

/// The desired settings both kinds have.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Common {
    /// Subnet group (creation only).
    pub subnet_group_name: Option<String>,
    /// VPC security groups, sorted and without repeats (AWS reports a set); empty
    /// leaves them as they are.
    pub security_group_ids: Vec<String>,
    /// Maintenance window, lowercase (as AWS reports it); `None` leaves it as it is.
    pub maintenance_window: Option<String>,
    /// Apply modifications now rather than in the maintenance window.
    pub apply_immediately: bool,
    /// All tags: the user's plus the ownership tags.
    pub tags: BTreeMap<String, String>,
}

/// What [`Common::from_spec`] reads: the spec fields both kinds have.
#[derive(Clone, Copy, Debug)]
pub struct CommonSpec<'a> {
    /// `spec.network`.
    pub network: Option<&'a AwsNetwork>,
    /// `spec.maintenanceWindow`.
    pub maintenance_window: Option<&'a str>,
    /// `spec.applyImmediately`.
    pub apply_immediately: bool,
}

impl Common {
    /// The settings `spec` asks for, with `tags`.
    pub fn from_spec(spec: CommonSpec<'_>, tags: BTreeMap<String, String>) -> Self {
        let CommonSpec {
            network,
            maintenance_window,
            apply_immediately,
        } = spec;
        let mut security_group_ids = network
            .map(|network| network.security_group_ids.clone())
            .unwrap_or_default();
        security_group_ids.sort();
        security_group_ids.dedup();
        Self {
            subnet_group_name: network.and_then(|network| network.subnet_group_name.clone()),
            security_group_ids,
            maintenance_window: maintenance_window.map(str::to_ascii_lowercase),
            apply_immediately,
            tags,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_groups_are_a_sorted_set_and_the_window_lowercase() {
        let network = AwsNetwork {
            subnet_group_name: Some("app".into()),
            security_group_ids: vec![
                "sg-0bbb1234".into(),
                "sg-0aaa1234".into(),
                "sg-0bbb1234".into(),
            ],
        };
        let spec = |network, window| CommonSpec {
            network,
            maintenance_window: window,
            apply_immediately: false,
        };
        let common = Common::from_spec(
            spec(Some(&network), Some("Sun:05:00-Sun:06:00")),
            BTreeMap::new(),
        );
        assert_eq!(common.security_group_ids, ["sg-0aaa1234", "sg-0bbb1234"]);
        assert_eq!(common.subnet_group_name.as_deref(), Some("app"));
        assert_eq!(
            common.maintenance_window.as_deref(),
            Some("sun:05:00-sun:06:00")
        );
        assert_eq!(
            Common::from_spec(spec(None, None), BTreeMap::new()),
            Common::default()
        );
    }
}
