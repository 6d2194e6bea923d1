//! What every controller of `tiered run` shares, below the controllers and above the API
//! and AWS layers: the [`context::Context`], the kinds of child a TieredApp owns
//! ([`children`]), reflector stores and their compact caches, Events, metrics, status
//! writing and kstatus conditions, error categories, the requeue and backoff policy, the
//! AWS clients with their call counter and the limit on mutating calls per object, the
//! rule that a pass changes nothing on a claim it did not read ([`claims`]), health, and
//! scopes. Nothing here imports a controller.

pub mod aws_calls;
pub mod aws_clients;
pub mod backoff;
pub mod cached;
pub mod children;
pub mod claims;
pub mod context;
pub mod error;
pub mod events;
pub mod health;
pub mod kstatus;
pub mod metrics;
pub mod mutations;
pub mod own_writes;
pub mod owned;
pub mod panic;
pub mod scope;
pub mod status;
pub mod stores;
pub mod text;
