//! The spec fields both kinds have by the same name and type ([`SharedSpec`]): the
//! user's tags, the deletion policy, `spec.snapshots`, `spec.parameters`, and what
//! [`Common`](crate::controllers::data_tier::desired::Common) is made of (network,
//! maintenance window, apply now). Each kind implements it for its spec in one line
//! (`shared_spec!`); the shared outline reads the fields through it, and each kind's
//! `desired` takes [`CommonSpec`] from it. The status fields the outline reads of
//! both kinds' statuses ([`SharedStatus`]) likewise. Pure.

use std::collections::BTreeMap;

use crate::api::parameters::ParameterGroupStatus;
use crate::api::shared::DeletionPolicy;
use crate::api::snapshots::{SnapshotRequest, SnapshotStatus};
use crate::api::{CacheClusterStatus, ManagedDatabaseStatus};
use crate::controllers::data_tier::desired::CommonSpec;

/// The fields of a data-tier spec that the two kinds spell alike.
pub trait SharedSpec {
    /// The user's tags (`spec.tags`).
    fn user_tags(&self) -> &BTreeMap<String, String>;
    /// The deletion policy the spec sets (`spec.deletionPolicy`).
    fn deletion_policy(&self) -> Option<DeletionPolicy>;
    /// The snapshots the spec asks for (`spec.snapshots`).
    fn snapshot_requests(&self) -> &[SnapshotRequest];
    /// The engine parameters (`spec.parameters`).
    fn parameters(&self) -> &BTreeMap<String, String>;
    /// What [`Common`](crate::controllers::data_tier::desired::Common) is made of:
    /// `spec.network`, `spec.maintenanceWindow`, `spec.applyImmediately`.
    fn common(&self) -> CommonSpec<'_>;

    /// Whether the spec asks for engine parameters (`spec.parameters`).
    fn parameters_requested(&self) -> bool {
        !self.parameters().is_empty()
    }
}

/// The fields of a data-tier status that the two kinds spell alike.
pub trait SharedStatus {
    /// The parameter group tiered owns for the resource, as last reported
    /// (`status.parameterGroup`); `None` when it reported none.
    fn parameter_group(&self) -> Option<&ParameterGroupStatus>;
    /// The identifier of the AWS resource the status last named (`status.identifier`).
    fn identifier(&self) -> Option<&str>;
    /// The ARN of the AWS resource the status last observed (`status.arn`); `None`
    /// before the resource was first seen.
    fn arn(&self) -> Option<&str>;
    /// The snapshots of `spec.snapshots` as last reported (`status.snapshots`).
    fn snapshots(&self) -> &[SnapshotStatus];
}

/// Implements [`SharedStatus`] for the status types given (a macro for the reason of
/// [`shared_spec!`](shared_spec): separate CRD types, fields of the same name).
macro_rules! shared_status {
    ($($status:ty),*) => {$(
        impl SharedStatus for $status {
            fn parameter_group(&self) -> Option<&ParameterGroupStatus> {
                self.parameter_group.as_ref()
            }
            fn identifier(&self) -> Option<&str> {
                self.identifier.as_deref()
            }
            fn arn(&self) -> Option<&str> {
                self.arn.as_deref()
            }
            fn snapshots(&self) -> &[SnapshotStatus] {
                &self.snapshots
            }
        }
    )*};
}

shared_status!(ManagedDatabaseStatus, CacheClusterStatus);

/// Implements [`SharedSpec`] for the spec type `$spec`. A macro because the kinds'
/// specs are separate CRD types (their schemas are generated from them, so they share
/// no struct) that hold these fields under the same names: one body reads them for
/// every kind.
macro_rules! shared_spec {
    ($spec:ty) => {
        impl $crate::controllers::data_tier::spec::SharedSpec for $spec {
            fn user_tags(&self) -> &::std::collections::BTreeMap<String, String> {
                &self.tags
            }

            fn deletion_policy(&self) -> Option<$crate::api::shared::DeletionPolicy> {
                self.deletion_policy
            }

            fn snapshot_requests(&self) -> &[$crate::api::snapshots::SnapshotRequest] {
                &self.snapshots
            }

            fn parameters(&self) -> &::std::collections::BTreeMap<String, String> {
                &self.parameters
            }

            fn common(&self) -> $crate::controllers::data_tier::desired::CommonSpec<'_> {
                $crate::controllers::data_tier::desired::CommonSpec {
                    network: self.network.as_ref(),
                    maintenance_window: self.maintenance_window.as_deref(),
                    apply_immediately: self.apply_immediately,
                }
            }
        }
    };
}

pub(crate) use shared_spec;
