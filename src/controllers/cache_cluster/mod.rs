//! The CacheCluster controller: an Amazon ElastiCache (Valkey or Redis OSS)
//! replication group. Pure parts (desired state, diff, state, status, Secret
//! contents) are apart from the AWS calls (`reconcile`, `delete`) and the Kubernetes
//! IO (`controller`); what is the same as the database's lives in `crate::controllers::data_tier`.

pub mod cleanup;
pub mod controller;
pub mod desired;
pub mod diff;
pub mod outcome;
pub mod reconcile;
pub mod secret;
pub mod state;
pub mod status;
