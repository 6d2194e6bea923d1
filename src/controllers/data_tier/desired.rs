//! What both kinds' desired state takes alike from the spec pieces they share
//! (`crate::api::shared::AwsNetwork` and the maintenance window): where the resource
//! runs and when it is maintained, as AWS spells and compares them. Each kind's own
//! settings are in its `desired`. Pure.

use crate::api::shared::AwsNetwork;

/// Where and when a data-tier resource runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Placement {
    /// Subnet group (creation only).
    pub subnet_group_name: Option<String>,
    /// VPC security groups, sorted and without repeats (AWS reports a set); empty
    /// leaves them as they are.
    pub security_group_ids: Vec<String>,
    /// Maintenance window, lowercase (as AWS reports it); `None` leaves it as it is.
    pub maintenance_window: Option<String>,
}

impl Placement {
    /// The placement the spec's `network` and `maintenanceWindow` ask for.
    pub fn from_spec(network: Option<&AwsNetwork>, maintenance_window: Option<&str>) -> Self {
        let mut security_group_ids = network
            .map(|network| network.security_group_ids.clone())
            .unwrap_or_default();
        security_group_ids.sort();
        security_group_ids.dedup();
        Self {
            subnet_group_name: network.and_then(|network| network.subnet_group_name.clone()),
            security_group_ids,
            maintenance_window: maintenance_window.map(str::to_ascii_lowercase),
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
        let placement = Placement::from_spec(Some(&network), Some("Sun:05:00-Sun:06:00"));
        assert_eq!(placement.security_group_ids, ["sg-0aaa1234", "sg-0bbb1234"]);
        assert_eq!(placement.subnet_group_name.as_deref(), Some("app"));
        assert_eq!(
            placement.maintenance_window.as_deref(),
            Some("sun:05:00-sun:06:00")
        );
        assert_eq!(Placement::from_spec(None, None), Placement::default());
    }
}
