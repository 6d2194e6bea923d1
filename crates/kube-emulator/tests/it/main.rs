//! The emulator's integration tests, one binary: each module pins one area of the real
//! API server's behaviour against unmodified `kube::Client`s (and `kubectl`).
#![cfg(test)]

mod apply;
mod bench;
mod cel_cost;
mod claims;
mod crud;
mod custom_resources;
mod defaulting;
mod discovery;
mod event_storage;
mod events;
mod faults;
mod kind_rules;
mod kubectl;
mod lifecycle;
mod object_meta;
mod openapi;
mod protobuf;
mod sandbox;
mod scale;
mod selectors;
mod support;
mod tables;
mod validation;
mod watch;
