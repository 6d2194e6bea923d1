//! An in-process emulator of the Kubernetes API server, for tests and the local sandbox.
//!
//! Built only with the `emulator` cargo feature; never part of the release image.
//! Unmodified `kube::Client` and `kubectl` talk to it over plain HTTP on loopback.
//! See `docs` in this module (and `README.md` beside the tests) for what it does not do.

pub mod patch;
pub mod schema;
