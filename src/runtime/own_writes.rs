//! Our own writes, told apart from everyone else's in a watch, so that a write a
//! reconcile makes never triggers the next reconcile of the same object (the
//! kube-runtime scheduler runs a watch trigger at once, before any backoff the
//! reconcile asked for: a Secret that changes on every pass made a loop of reconciles,
//! each free to call AWS again). A write is announced before it is sent
//! ([`OwnWrites::writing`]) and confirmed with the resourceVersion the API server gave
//! it ([`OwnWrites::written`]); a watch event of that object is ours while the write is
//! under way (its event may arrive before the answer) or when it carries that exact
//! resourceVersion. Anything else (someone edits or deletes the object: a deletion gets
//! a fresh resourceVersion) is not ours and triggers as before.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use kube::{Resource, ResourceExt};

#[derive(Debug)]
enum Write {
    Sending,
    Sent(Option<String>),
}

/// The latest own write per object (namespace, name).
#[derive(Debug, Default)]
pub struct OwnWrites {
    latest: Mutex<HashMap<(String, String), Write>>,
}

impl OwnWrites {
    /// A write of `namespace/name` is about to be sent.
    pub fn writing(&self, namespace: &str, name: &str) {
        self.lock()
            .insert((namespace.to_owned(), name.to_owned()), Write::Sending);
    }

    /// The write of `namespace/name` was answered with `resource_version`; `None` when
    /// it failed (the object is then as someone else left it).
    pub fn written(&self, namespace: &str, name: &str, resource_version: Option<String>) {
        let key = (namespace.to_owned(), name.to_owned());
        let mut latest = self.lock();
        match resource_version {
            Some(version) => {
                latest.insert(key, Write::Sent(Some(version)));
            }
            None => {
                latest.remove(&key);
            }
        }
    }

    /// Whether the watched `object` is our own latest write.
    pub fn is_own<K: Resource>(&self, object: &K) -> bool {
        let key = (object.namespace().unwrap_or_default(), object.name_any());
        match self.lock().get(&key) {
            Some(Write::Sending) => true,
            Some(Write::Sent(version)) => {
                version.is_some() && *version == object.resource_version()
            }
            None => false,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<(String, String), Write>> {
        self.latest.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::Secret;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn secret(name: &str, version: &str) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("shop".into()),
                resource_version: Some(version.into()),
                ..ObjectMeta::default()
            },
            ..Secret::default()
        }
    }

    #[test]
    fn our_write_is_ours_while_sent_and_by_its_version_and_nothing_else_is() {
        let own = OwnWrites::default();
        assert!(
            !own.is_own(&secret("db-connection", "1")),
            "nothing written yet"
        );
        own.writing("shop", "db-connection");
        assert!(
            own.is_own(&secret("db-connection", "7")),
            "its event may come first"
        );
        assert!(!own.is_own(&secret("other-connection", "7")));
        own.written("shop", "db-connection", Some("7".into()));
        assert!(own.is_own(&secret("db-connection", "7")));
        assert!(
            !own.is_own(&secret("db-connection", "8")),
            "a later change (an edit, a deletion) is someone else's"
        );
        own.writing("shop", "db-connection");
        own.written("shop", "db-connection", None);
        assert!(
            !own.is_own(&secret("db-connection", "7")),
            "a failed write forgets"
        );
    }
}
