//! tiered: a Kubernetes operator for highly available three-tier applications on EKS.

#[cfg(feature = "emulator")]
pub mod emulator;

pub mod api;
pub mod cli;
pub mod tiered_app;
