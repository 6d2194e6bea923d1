//! What the data-tier controllers (ManagedDatabase on RDS, CacheCluster on
//! ElastiCache) share beyond the AWS pieces in `crate::aws`: the reconcile outcome
//! ([`progress`]), kstatus conditions ([`conditions`]), generated credentials
//! ([`credentials`]) and the thin Kubernetes side of a controller ([`controller`]).

pub mod conditions;
pub mod controller;
pub mod credentials;
pub mod progress;
