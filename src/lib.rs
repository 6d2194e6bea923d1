//! tiered: a Kubernetes operator for highly available three-tier applications on EKS.
//!
//! Layers, each importing only the ones before it: [`api`] (the CRD types) → [`aws`]
//! (identifiers, tags, errors, fleet reads) → [`runtime`] (what every controller shares)
//! → [`controllers`] (TieredApp, ManagedDatabase, CacheCluster) → [`process`] (`tiered
//! run`) → [`cli`]. `docs/architecture.md` draws it.

pub mod api;
pub mod aws;
pub mod cli;
pub mod controllers;
pub mod process;
pub mod runtime;
