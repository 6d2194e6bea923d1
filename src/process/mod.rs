//! `tiered run`: the operator process on top of the controllers: start-up and the
//! controllers' tasks ([`run`]), HTTP endpoints, leader election, graceful shutdown and
//! logging.

pub mod http;
pub mod leader;
pub mod run;
pub mod shutdown;
pub mod telemetry;
