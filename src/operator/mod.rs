//! `tiered run`: the operator process. Plumbing (telemetry, metrics, HTTP endpoints,
//! leader election, shutdown), the shared [`context::Context`] and the controllers.

pub mod aws;
pub mod context;
pub mod events;
pub mod health;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod process;
#[cfg(test)]
mod run_flags_tests;
pub mod scope;
pub mod shutdown;
pub mod telemetry;
pub mod tiered_app;
