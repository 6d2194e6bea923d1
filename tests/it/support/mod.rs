//! Shared helpers for the integration tests: each `tests/*.rs` says `mod support;`.
//!
//! It starts and stops the third-party tools the tests talk to (`moto_server`) and
//! finds the ones they call (`kubectl`), and holds the fixtures the database and
//! cache tests share ([`fixtures`]). Those tools come from the project virtualenv
//! that `scripts/test.sh` installs; a helper whose tool is missing fails the test with
//! a message that says so, it never skips: CI always has them.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]
// Test support: failing loudly with a clear message is what these helpers are for.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

pub mod aws_reads;
pub mod cel_repair;
pub mod data_tier;
pub mod day2;
pub mod faults;
pub mod fixtures;
pub mod moto;
pub mod operator;
pub mod partition;
pub mod process;
pub mod restore_sources;
pub mod tools;
