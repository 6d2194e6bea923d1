//! tiered: a Kubernetes operator for highly available three-tier applications on EKS.

#[cfg(feature = "emulator")]
pub mod emulator;

pub mod api;
pub mod aws;
pub mod cache;
pub mod cli;
pub mod data_tier;
pub mod database;
pub mod operator;
pub mod tiered_app;
