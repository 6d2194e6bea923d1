//! The three controllers and what the two AWS-backed ones share: [`tiered_app`]
//! (Kubernetes children), [`managed_database`] (Amazon RDS), [`cache_cluster`] (Amazon
//! ElastiCache) and [`data_tier`] (the outline both AWS-backed kinds follow). Each
//! controller keeps the same step files where the step exists: `mod.rs` (wiring),
//! `reconcile.rs` (the pipeline), `validate.rs`, `desired.rs` or `build/` (pure),
//! `diff.rs` (pure), `apply.rs`, `status.rs` (pure), `cleanup.rs` (finalizer), `error.rs`.

pub mod cache_cluster;
pub mod data_tier;
pub mod managed_database;
pub mod tiered_app;
