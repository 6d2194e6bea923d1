//! The three controllers and what the two AWS-backed ones share: [`tiered_app`]
//! (Kubernetes children), [`managed_database`] (Amazon RDS), [`cache_cluster`] (Amazon
//! ElastiCache) and [`data_tier`] (the outline both AWS-backed kinds follow: one
//! reconcile, one finalizer, behind a trait). Each keeps the same step files where the
//! step exists: `mod.rs` (wiring), `reconcile.rs` (the pipeline), `validate.rs`,
//! `desired.rs` or `build/` (pure), `diff.rs` (pure), `apply.rs` (Kubernetes writes),
//! `status.rs` (pure), `cleanup.rs` (finalizer), `error.rs`; a file with another name
//! is a step only that controller has, and its `//!` says why (`dependencies.rs`,
//! `validated.rs`, `rds.rs`, `elasticache.rs`, `rotation.rs`, `plan.rs`, …).
//!
//! Imports run one way: a kind's folder uses `data_tier`, never the reverse, and no
//! two step files of one controller import each other, directly or in a circle.

pub mod cache_cluster;
pub mod data_tier;
pub mod managed_database;
pub mod tiered_app;
