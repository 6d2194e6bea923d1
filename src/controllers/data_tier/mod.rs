//! What the data-tier controllers (ManagedDatabase on RDS, CacheCluster on
//! ElastiCache) share beyond the AWS pieces in `crate::aws`: the reconcile outcome
//! ([`progress`]), kstatus conditions ([`conditions`]), generated credentials
//! ([`credentials`]), the deletion policy and final snapshot name ([`deletion`]), the
//! thin Kubernetes side of a controller ([`controller`]) and its kube-runtime wiring
//! ([`runner`]).

pub mod apply;
pub mod cleanup;
pub mod conditions;
pub mod credentials;
pub mod progress;
pub mod runner;
