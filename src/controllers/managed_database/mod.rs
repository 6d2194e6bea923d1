//! The ManagedDatabase controller: an Amazon RDS DB instance and its read replicas.
//! Pure parts (desired state, diff, status, Secret contents) are apart from the AWS
//! calls (`reconcile`, `delete`, `fleet`) and the Kubernetes IO (`apply`, wired up in
//! `controller`).

pub mod apply;
pub mod cleanup;
pub mod controller;
pub mod desired;
pub mod diff;
pub mod outcome;
pub mod plan;
pub mod reconcile;
pub mod secret;
pub mod state;
pub mod status;
