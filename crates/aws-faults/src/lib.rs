//! A fault layer in front of `moto_server` for tiered's tests and chaos runs: an HTTP
//! proxy that reads the `Action=` of each AWS query-protocol request (RDS, ElastiCache)
//! and, by action and rate with a fixed seed, throttles it (400 `Throttling`), fails it
//! (500 `InternalFailure`), denies it (403 `AccessDenied`, as an IAM policy or an
//! organization's SCP does: moto has no IAM), delays it, or **loses its response**
//! (forwards it, so AWS
//! acts, then answers 500). It records every call (action, resource id, fault) so tests
//! can assert call counts per action and per resource, and serves that record at
//! `GET /_faults/calls` for scripts.
//!
//! Its own crate, apart from the API-server emulator (which is about Kubernetes), so that
//! the integration tests link it in-process ([`Proxy::start`]) and `scripts/chaos.sh`
//! runs the same code as the `aws-faults` binary.
//!
//! Moto is kind: it never throttles, never fails and never loses a response. Real AWS
//! does all three; a lost response (AWS created the instance, the client saw an error)
//! is what makes an operator create twice.

pub mod calls;
pub mod proxy;
pub mod rules;

pub use calls::{Call, Calls, Fate};
pub use proxy::{Proxy, ProxyError};
pub use rules::{Dice, Rule, RuleError};
