//! Publishes `events.k8s.io/v1` Events for every controller of `tiered run`: the one
//! way they do it is [`Publisher::emit`] (best effort, the note cut to what the API
//! accepts).
//!
//! Written here rather than using kube-runtime's `Recorder` for two reasons measured in
//! the operator benchmark (issue 3):
//! - the `Recorder` folds Events that differ only in their note into one series, so a
//!   second "Updated" of an app would show the note of the first (which children
//!   changed is exactly what the note says);
//! - it sweeps its whole cache on every publish, which is quadratic in the Events of
//!   the last six minutes (15,000 when 1,000 apps appear at once).
//!
//! Here an Event repeats only when everything about it is the same, note included, within
//! [`SERIES_WINDOW`]; the repeat is a merge patch of `series` on the first Event (as
//! client-go's correlator does), and the cache is swept at most once per
//! [`SWEEP_EVERY`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Resource};

use crate::runtime::text::{
    EVENT_NOTE_MAX_BYTES, EVENT_REPORTING_INSTANCE_MAX_BYTES, distinct_within, truncated,
};
pub use kube::runtime::events::{Event, EventType};

/// How long a repeat of the same Event counts into the first one's series.
pub const SERIES_WINDOW: Duration = Duration::from_mins(6);
/// How often at most the cache drops entries older than [`SERIES_WINDOW`].
pub const SWEEP_EVERY: Duration = Duration::from_mins(1);
/// The longest note the API server accepts, in bytes (apimachinery's 1 KiB).
pub const NOTE_LIMIT: usize = EVENT_NOTE_MAX_BYTES;

/// Everything that makes two Events the same.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    type_: &'static str,
    reason: String,
    action: String,
    note: Option<String>,
    regarding: (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    ),
    related: Option<(Option<String>, Option<String>, Option<String>)>,
}

impl Key {
    fn new(event: &Event, regarding: &ObjectReference) -> Self {
        Self {
            type_: type_name(event.type_),
            reason: event.reason.clone(),
            action: event.action.clone(),
            note: event.note.clone(),
            regarding: (
                regarding.kind.clone(),
                regarding.namespace.clone(),
                regarding.name.clone(),
                regarding.uid.clone(),
            ),
            related: event
                .secondary
                .as_ref()
                .map(|r| (r.kind.clone(), r.namespace.clone(), r.name.clone())),
        }
    }
}

/// The first Event of a series and how often it happened since.
#[derive(Debug)]
struct Seen {
    name: String,
    namespace: String,
    count: i32,
    last: Instant,
}

#[derive(Debug)]
struct Cache {
    seen: HashMap<Key, Seen>,
    swept: Instant,
}

/// Publishes Events as controller `controller` from `instance`; cheap to share.
pub struct Publisher {
    client: kube::Client,
    controller: String,
    instance: String,
    cache: Mutex<Cache>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("controller", &self.controller)
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

fn type_name(type_: EventType) -> &'static str {
    match type_ {
        EventType::Normal => "Normal",
        EventType::Warning => "Warning",
    }
}

impl Publisher {
    /// A publisher reporting as `controller`, from `instance` (default: the controller).
    /// An instance longer than the API server's 128 bytes (a long `POD_NAME`) is cut and
    /// followed by a digest of the whole ([`distinct_within`]), or every Event would be
    /// refused.
    pub fn new(client: kube::Client, controller: &str, instance: Option<String>) -> Self {
        let instance = instance.unwrap_or_else(|| controller.to_owned());
        Self {
            client,
            controller: controller.to_owned(),
            instance: distinct_within(&instance, EVENT_REPORTING_INSTANCE_MAX_BYTES, |_| true),
            cache: Mutex::new(Cache {
                seen: HashMap::new(),
                swept: Instant::now(),
            }),
        }
    }

    /// Publishes an Event about `regarding`, best effort: a failure is logged, never
    /// fatal (an Event is a note to people, not state the operator relies on). `note`
    /// is cut to [`NOTE_LIMIT`] bytes when the Event is written.
    pub async fn emit(
        &self,
        regarding: &ObjectReference,
        type_: EventType,
        reason: &str,
        action: &str,
        note: impl Into<String>,
    ) {
        let event = Event {
            type_,
            reason: reason.to_owned(),
            note: Some(note.into()),
            action: action.to_owned(),
            secondary: None,
        };
        if let Err(error) = self.publish(&event, regarding).await {
            tracing::warn!(%error, reason, "failed to publish an Event");
        }
    }

    /// [`emit`](Self::emit) about `object`, with the action every reconcile's Event
    /// has (`Reconcile`).
    pub async fn emit_reconcile<K: Resource<DynamicType = ()>>(
        &self,
        object: &K,
        type_: EventType,
        reason: &str,
        note: impl Into<String>,
    ) {
        self.emit(&object.object_ref(&()), type_, reason, "Reconcile", note)
            .await;
    }

    /// Publishes `event` about `regarding`, in its namespace (`default` when it has none).
    ///
    /// # Errors
    /// The API error of the create or patch.
    pub async fn publish(
        &self,
        event: &Event,
        regarding: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let key = Key::new(event, regarding);
        let repeat = self.repeat_of(&key);
        let now = Timestamp::now();
        if let Some((namespace, name, count)) = repeat {
            let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), &namespace);
            let series = EventSeries {
                count,
                last_observed_time: MicroTime(now),
            };
            let patch = serde_json::json!({ "series": series });
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => return Ok(()),
                // Expired or deleted by someone: start a new series below.
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(error) => return Err(error),
            }
        }
        let namespace = regarding
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned());
        let created = self.generate(event, regarding, &namespace, now);
        let name = created.metadata.name.clone().unwrap_or_default();
        let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), &namespace);
        api.create(&PostParams::default(), &created).await?;
        self.remember(key, name, namespace);
        Ok(())
    }

    /// The namespace, name and next series count of an Event this one repeats.
    fn repeat_of(&self, key: &Key) -> Option<(String, String, i32)> {
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        if now.duration_since(cache.swept) >= SWEEP_EVERY {
            cache
                .seen
                .retain(|_, seen| now.duration_since(seen.last) < SERIES_WINDOW);
            cache.swept = now;
        }
        let seen = cache.seen.get_mut(key)?;
        if now.duration_since(seen.last) >= SERIES_WINDOW {
            return None;
        }
        seen.count = seen.count.saturating_add(1);
        seen.last = now;
        Some((seen.namespace.clone(), seen.name.clone(), seen.count))
    }

    fn remember(&self, key: Key, name: String, namespace: String) {
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.seen.insert(
            key,
            Seen {
                name,
                namespace,
                count: 1,
                last: Instant::now(),
            },
        );
    }

    fn generate(
        &self,
        event: &Event,
        regarding: &ObjectReference,
        namespace: &str,
        now: Timestamp,
    ) -> K8sEvent {
        let base = event_name_base(regarding.name.as_deref().unwrap_or(&self.controller));
        K8sEvent {
            action: Some(event.action.clone()),
            reason: Some(event.reason.clone()),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            related: event.secondary.clone(),
            // Cut to the API server's 1 KiB on a char boundary: notes carry user text.
            note: event
                .note
                .as_deref()
                .map(|note| truncated(note, EVENT_NOTE_MAX_BYTES)),
            metadata: ObjectMeta {
                namespace: Some(namespace.to_owned()),
                name: Some(format!("{base}.{:x}", now.as_nanosecond())),
                ..ObjectMeta::default()
            },
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            type_: Some(type_name(event.type_).to_owned()),
            ..K8sEvent::default()
        }
    }
}

/// Longest name of an object (a DNS-1123 subdomain).
const NAME_MAX: usize = 253;
/// Room the Event name keeps after the regarded object's name: `.` and the time in
/// nanoseconds as hex (16 digits for any time a `u64` of nanoseconds holds).
const NAME_SUFFIX_ROOM: usize = 1 + 16;

/// The part of an Event's name before `.<time>`: the regarded object's name, cut so
/// that the whole stays a valid name (at most 253 characters, ending in a letter or
/// digit). A ManagedDatabase or CacheCluster may be named with up to 242 characters,
/// whose Events the API server refused as an invalid name, so they never appeared.
fn event_name_base(name: &str) -> &str {
    let mut end = name.len().min(NAME_MAX - NAME_SUFFIX_ROOM);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].trim_end_matches(['.', '-'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(note: &str) -> Event {
        Event {
            type_: EventType::Normal,
            reason: "Updated".into(),
            note: Some(note.into()),
            action: "Apply".into(),
            secondary: None,
        }
    }

    /// A publisher whose client reaches nothing: for what it builds, not what it sends.
    fn offline_publisher() -> Publisher {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = kube::Config::new("http://127.0.0.1:1".parse().unwrap());
        Publisher::new(kube::Client::try_from(config).unwrap(), "tiered", None)
    }

    fn app() -> ObjectReference {
        ObjectReference {
            kind: Some("TieredApp".into()),
            namespace: Some("shop".into()),
            name: Some("web".into()),
            uid: Some("u1".into()),
            ..ObjectReference::default()
        }
    }

    #[tokio::test]
    async fn a_long_multi_byte_note_is_cut_to_one_kib_on_a_char_boundary() {
        let publisher = offline_publisher();
        let note = format!("x{}", "é".repeat(1500));
        let event = publisher.generate(&event(&note), &app(), "shop", Timestamp::now());
        let written = event.note.unwrap();
        assert!(written.len() <= 1024, "{} bytes", written.len());
        assert!(note.starts_with(written.trim_end_matches('…')));
    }

    /// Found by the outside trial: a ManagedDatabase named with 242 characters (the
    /// most its CRD allows) had none of its Events published: their names were longer
    /// than 253 characters.
    #[tokio::test]
    async fn the_events_of_an_object_with_the_longest_name_have_valid_names() {
        let publisher = offline_publisher();
        let name_ending_in_a_dot_when_cut = format!("{}.{}", "a".repeat(235), "b".repeat(6));
        for name in [
            "x".repeat(242),
            name_ending_in_a_dot_when_cut,
            "web".to_owned(),
        ] {
            let regarding = ObjectReference {
                name: Some(name.clone()),
                ..app()
            };
            let event = publisher.generate(&event("n"), &regarding, "shop", Timestamp::now());
            let written = event.metadata.name.unwrap();
            let errors = kube_emulator::validation::format::dns1123_subdomain(&written);
            assert!(errors.is_empty(), "{written}: {errors:?}");
            assert!(written.starts_with(name.get(..200).unwrap_or(&name)));
        }
    }

    #[test]
    fn events_with_another_note_are_not_the_same_event() {
        let first = Key::new(&event("Updated Deployment/web"), &app());
        let second = Key::new(&event("Updated Deployment/api"), &app());
        assert_ne!(first, second);
        assert_eq!(first, Key::new(&event("Updated Deployment/web"), &app()));
    }
}
