//! The integration tests of the `tiered` crate, one binary (so `support` and the AWS SDKs
//! link once): a module per area, each named for what it drives (the emulator and moto,
//! the real `kubectl`, the `tiered` binary).
#![cfg(test)]

mod adoption;
mod adoption_optin;
mod aws_faults;
mod aws_moto;
mod cache_auth_token;
mod cache_aws_rules;
mod cache_controller;
mod cache_mocks;
mod cache_moto;
mod crds_in_sync;
mod data_tier_controller;
mod data_tier_mocks;
mod data_tier_moto;
mod database_adoption;
mod database_controller;
mod database_mocks;
mod database_moto;
mod database_parameters;
mod database_replicas;
mod database_restore;
mod database_snapshots;
mod database_spec_rules;
mod database_storage;
mod docs;
mod drift_tags;
mod e2e_newsread;
mod harness_kubectl;
mod layers;
mod names_valid;
mod never_panics;
mod never_stops;
mod operator_binary;
mod operator_events;
mod operator_identity;
mod operator_leader;
mod operator_placement;
mod operator_rollout;
mod operator_shards;
mod operator_tiered_app;
mod operator_volumes;
mod ownership_children;
mod ownership_secrets;
mod panic_contained;
mod readme_kubectl;
mod render_children;
mod render_cli;
mod render_kubectl;
mod render_props;
mod replicas_switch;
mod secret_create;
mod support;
mod volumes_refused;
