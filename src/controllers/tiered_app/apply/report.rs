//! What one apply/prune pass of a TieredApp did: the children it created, updated and
//! pruned, the names it left alone because another owner holds them ([`Conflict`]), the
//! children the API server refused or failed to write ([`Failure`]), and the Events that
//! say so ([`publish_report`]).

use std::fmt::Write as _;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Resource;
use kube::runtime::events::EventType;

use crate::controllers::tiered_app::error::Error;
use crate::runtime::context::Context;
use crate::runtime::error::{Category, ReconcileError, chain};
use crate::runtime::text::truncated;

/// Bytes of the API server's message kept in a [`Failure`]: a webhook's message can be
/// long, and every failure of a pass shares one condition message.
pub const FAILURE_MESSAGE_MAX_BYTES: usize = 512;

/// One child written or deleted by a pass; shown as `Kind/name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildRef {
    /// `apiVersion` of the child, e.g. `apps/v1`.
    pub api_version: String,
    /// Kind of the child, e.g. `Deployment`.
    pub kind: String,
    /// Name of the child.
    pub name: String,
}

impl ChildRef {
    pub(super) fn of<K: Resource<DynamicType = ()>>(name: &str) -> Self {
        Self {
            api_version: K::api_version(&()).into_owned(),
            kind: K::kind(&()).into_owned(),
            name: name.to_owned(),
        }
    }

    /// A reference to the child in `namespace` (the `related` object of its Events).
    pub fn object_reference(&self, namespace: &str) -> ObjectReference {
        ObjectReference {
            api_version: Some(self.api_version.clone()),
            kind: Some(self.kind.clone()),
            name: Some(self.name.clone()),
            namespace: Some(namespace.to_owned()),
            ..ObjectReference::default()
        }
    }
}

impl std::fmt::Display for ChildRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

/// A child name held by an object this app does not control: left untouched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The child the app would write.
    pub child: ChildRef,
    /// Who controls the existing object: `Kind/name` of its controller owner (in the
    /// same namespace, as every ownerReference of a namespaced object is), or
    /// `not managed by tiered`.
    pub owner: String,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} already exists and {}",
            self.child,
            crate::runtime::text::held_by(&self.owner)
        )
    }
}

/// Who controls an object with `references`: `Kind/name` of its controller owner, or
/// `not managed by tiered`. Only what the app's own namespace holds is named.
pub fn owner_label(references: &[OwnerReference]) -> String {
    references
        .iter()
        .find(|r| r.controller == Some(true))
        .map_or_else(
            || "not managed by tiered".to_owned(),
            |r| format!("{}/{}", r.kind, r.name),
        )
}

/// Whether `references` name the owner with `uid` as controller.
pub fn controlled_by(references: &[OwnerReference], uid: &str) -> bool {
    references
        .iter()
        .any(|r| r.controller == Some(true) && r.uid == uid)
}

/// A child this pass could not write, delete or look up (the API server refused or
/// failed the request); the pass carried on with the other children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The child.
    pub child: ChildRef,
    /// Whether the child existed before the pass (a refused create leaves nothing).
    pub existed: bool,
    /// `Apply`, `Prune`, `Fetch` (its ownership lookup) or `Conflict` (HTTP 409): the
    /// metric label and the Warning Event's reason.
    pub category: Category,
    /// Whether retrying the same request cannot succeed ([`Failure::is_refusal`]).
    pub refused: bool,
    /// `failed to apply NetworkPolicy shop-web: 403 Forbidden: admission webhook …`: what
    /// failed and the API server's reason and message (the message cut to
    /// [`FAILURE_MESSAGE_MAX_BYTES`]), never an object's content.
    pub message: String,
}

impl Failure {
    /// The failure of `child` from `error`, or `error` itself when it is not the API
    /// server's answer to a request about the child (a serialization bug is the
    /// operator's, not the child's: the reconcile stops on it as before).
    pub fn of(child: ChildRef, existed: bool, error: Error) -> Result<Self, Error> {
        let (Error::Apply { source, .. }
        | Error::Prune { source, .. }
        | Error::Fetch { source, .. }) = &error
        else {
            return Err(error);
        };
        let (refused, cause) = match source {
            kube::Error::Api(status) => (
                refuses(status.code, &status.message),
                format!(
                    // A Status with no reason (etcd's "request is too large") reads
                    // `500: …`, not `500 : …`.
                    "{}{}{}: {}",
                    status.code,
                    if status.reason.is_empty() { "" } else { " " },
                    status.reason,
                    truncated(&status.message, FAILURE_MESSAGE_MAX_BYTES)
                ),
            ),
            other => (false, truncated(&chain(other), FAILURE_MESSAGE_MAX_BYTES)),
        };
        Ok(Self {
            child,
            existed,
            category: error.category(),
            refused,
            message: format!("{error}: {cause}"),
        })
    }

    /// Whether retrying the same request cannot succeed: the API server refused the
    /// object itself until someone changes the app, the policy or the quota (400, 403,
    /// 413, 422, and etcd's 500 "request is too large"). 409, 429, other 5xx and
    /// timeouts pass on a retry.
    pub fn is_refusal(&self) -> bool {
        self.refused
    }
}

/// Whether an answer with HTTP `code` and `message` refuses the object itself: 400
/// `BadRequest`; 403 `Forbidden` from an admission webhook, a ValidatingAdmissionPolicy
/// or a quota; 413 `RequestEntityTooLarge` (a body over 3 MiB); 422 `Invalid`; and the
/// 500 "etcdserver: request is too large" of an object over etcd's 1.5 MiB, which
/// kube-apiserver passes on as a server error although no retry can store it
/// (kubernetes/kubernetes#112152).
fn refuses(code: u16, message: &str) -> bool {
    matches!(code, 400 | 403 | 413 | 422)
        || (code == 500 && message.contains("etcdserver: request is too large"))
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A field of a child that someone else changed (`kubectl scale`, `kubectl edit`, another
/// controller) and the pass set back to what the TieredApp declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutBack {
    /// The child.
    pub child: ChildRef,
    /// Path of the field, e.g. `spec.replicas`.
    pub field: String,
    /// The value set again, when it is a number or a boolean; other values (strings may
    /// be an environment variable's value) are not repeated in Events.
    pub value: Option<String>,
}

impl PutBack {
    /// `field` of `child`, set back to `desired`.
    pub fn new(child: ChildRef, field: String, desired: &serde_json::Value) -> Self {
        let value = (desired.is_number() || desired.is_boolean()).then(|| desired.to_string());
        Self {
            child,
            field,
            value,
        }
    }
}

impl std::fmt::Display for PutBack {
    /// `spec.replicas of Deployment/shop-web (to 2)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} of {}", self.field, self.child)?;
        match &self.value {
            Some(value) => write!(f, " (to {value})"),
            None => Ok(()),
        }
    }
}

/// How many put-back fields of one child the Updated Event names: a `kubectl edit` of
/// a few fields is told in full, and a rewrite of the whole object does not crowd the
/// other children out of the note (at most 1 kB, [`crate::runtime::events::NOTE_LIMIT`]).
pub const PUT_BACK_PER_CHILD: usize = 4;

/// What one apply/prune pass did, for Events and metrics.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ApplyReport {
    /// Child names held by objects this app does not control (not written).
    pub conflicts: Vec<Conflict>,
    /// Changes the API server would refuse (a claim's immutable fields), not sent:
    /// `Kind/name: what and how to fix it`.
    pub problems: Vec<String>,
    /// Created children.
    pub created: Vec<ChildRef>,
    /// Updated children.
    pub updated: Vec<ChildRef>,
    /// Deleted children.
    pub pruned: Vec<ChildRef>,
    /// Fields another writer changed that an update of this pass put back (at most
    /// [`PUT_BACK_PER_CHILD`] of each child).
    pub put_back: Vec<PutBack>,
    /// Children the API server refused or failed to write, delete or look up.
    pub failures: Vec<Failure>,
    /// Whether an apply of an earlier pass is not in the stores yet, so this pass held
    /// it back: the live view is behind (look again soon, do not judge the rollout).
    pub behind: bool,
}

impl ApplyReport {
    /// Records that the child `name` of kind `K` (which `existed` or not) failed with
    /// `error`, so the pass can go on with the other children.
    ///
    /// # Errors
    ///
    /// `error` itself when it is the operator's fault, not the API server's answer
    /// about the child (see [`Failure::of`]).
    pub fn failed<K: Resource<DynamicType = ()>>(
        &mut self,
        name: &str,
        existed: bool,
        error: Error,
    ) -> Result<(), Error> {
        let failure = Failure::of(ChildRef::of::<K>(name), existed, error)?;
        self.failures.push(failure);
        Ok(())
    }
}

/// One Event per kind of change (Created, Updated, Pruned) that lists the children it
/// touched, e.g. `Created 5 objects: Service/shop-web, Deployment/shop-web, …`: one write
/// for a whole app instead of one per child (the operator benchmark's request count);
/// and a Warning Event per [`Failure`] with its category's reason (the same failure on
/// the next retry adds to that Event's series, see [`crate::runtime::events`]).
pub async fn publish_report(ctx: &Context, regarding: &ObjectReference, report: &ApplyReport) {
    for failure in &report.failures {
        tracing::warn!(child = %failure.child, category = %failure.category, error = %failure.message, "child not written");
        ctx.events
            .emit(
                regarding,
                EventType::Warning,
                failure.category.reason(),
                "Apply",
                failure.message.clone(),
            )
            .await;
    }
    for (list, reason) in [
        (&report.created, "Created"),
        (&report.updated, "Updated"),
        (&report.pruned, "Pruned"),
    ] {
        for child in list {
            tracing::info!(child = %child, action = reason, "child written");
        }
        if let Some(note) = change_note(reason, list) {
            let note = if reason == "Updated" {
                with_put_back(note, &report.put_back)
            } else {
                note
            };
            ctx.events
                .emit(regarding, EventType::Normal, reason, "Apply", note)
                .await;
        }
    }
    for put_back in &report.put_back {
        tracing::info!(child = %put_back.child, field = %put_back.field, "put back a field another writer changed");
    }
}

/// The Updated note followed by what it put back, e.g. `Updated 1 object:
/// Deployment/shop-web; put back what another writer changed: spec.replicas of
/// Deployment/shop-web (to 2)`, cut to the Event limit.
fn with_put_back(note: String, put_back: &[PutBack]) -> String {
    if put_back.is_empty() {
        return note;
    }
    let fields: Vec<String> = put_back.iter().map(ToString::to_string).collect();
    let whole = format!(
        "{note}; put back what another writer changed: {}",
        fields.join(", ")
    );
    crate::runtime::text::truncated(&whole, crate::runtime::events::NOTE_LIMIT)
}

/// `Created 2 objects: Service/a, Deployment/a`, or `None` for no change. Event notes
/// hold at most 1 kB: a longer list ends with how many more there are.
fn change_note(reason: &str, children: &[ChildRef]) -> Option<String> {
    const LIMIT: usize = crate::runtime::events::NOTE_LIMIT;
    let (first, rest) = children.split_first()?;
    let noun = if rest.is_empty() { "object" } else { "objects" };
    let mut note = format!("{reason} {} {noun}: {first}", children.len());
    for (index, child) in rest.iter().enumerate() {
        let item = format!(", {child}");
        let left = rest.len() - index;
        // Room for the item and a possible ", and 9999 more".
        if note.len() + item.len() + 16 > LIMIT {
            let _ = write!(note, ", and {left} more");
            break;
        }
        note.push_str(&item);
    }
    Some(note)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child(kind: &str, name: &str) -> ChildRef {
        ChildRef {
            api_version: "v1".into(),
            kind: kind.into(),
            name: name.into(),
        }
    }

    fn apply_error(code: u16, reason: &str, message: &str) -> Error {
        Error::Apply {
            kind: "NetworkPolicy".into(),
            name: "shop-web".into(),
            source: kube::Error::Api(
                kube::core::Status::failure(message, reason)
                    .with_code(code)
                    .boxed(),
            ),
        }
    }

    #[test]
    fn a_failure_names_the_child_and_quotes_the_api_server_cut_to_a_bound() {
        let long = format!(
            "admission webhook \"deny.example.com\" denied the request: {}",
            "x".repeat(2000)
        );
        let failure = Failure::of(
            child("NetworkPolicy", "shop-web"),
            false,
            apply_error(403, "Forbidden", &long),
        )
        .unwrap();
        assert!(failure.is_refusal());
        assert_eq!(failure.category, Category::Apply);
        assert!(
            failure.message.starts_with(
                "failed to apply NetworkPolicy shop-web: 403 Forbidden: admission webhook"
            ),
            "{failure}"
        );
        assert!(
            failure.message.len() < FAILURE_MESSAGE_MAX_BYTES + 100,
            "{}",
            failure.message.len()
        );
        // etcd's refusal has no reason: no stray space before the colon.
        let too_large = Failure::of(
            child("NetworkPolicy", "shop-web"),
            false,
            apply_error(500, "", "etcdserver: request is too large"),
        )
        .unwrap();
        assert_eq!(
            too_large.message,
            "failed to apply NetworkPolicy shop-web: 500: etcdserver: request is too large"
        );
    }

    #[test]
    fn only_refusals_of_the_object_itself_are_refusals_retrying_cannot_overcome() {
        let too_large = "etcdserver: request is too large";
        for (code, reason, message, refusal, category) in [
            (400, "BadRequest", "m", true, Category::Apply),
            (403, "Forbidden", "m", true, Category::Apply),
            (413, "RequestEntityTooLarge", "m", true, Category::Apply),
            (422, "Invalid", "m", true, Category::Apply),
            (500, "", too_large, true, Category::Apply),
            (409, "Conflict", "m", false, Category::Conflict),
            (429, "TooManyRequests", "m", false, Category::Apply),
            (500, "InternalError", "m", false, Category::Apply),
            (504, "Timeout", "m", false, Category::Apply),
        ] {
            let failure = Failure::of(
                child("Ingress", "a"),
                true,
                apply_error(code, reason, message),
            )
            .unwrap();
            assert_eq!(
                (failure.is_refusal(), failure.category),
                (refusal, category),
                "{code}"
            );
        }
        let internal = Error::MissingMetadata("metadata.uid");
        assert!(
            Failure::of(child("Ingress", "a"), true, internal).is_err(),
            "not a child's failure"
        );
    }

    #[test]
    fn a_change_note_lists_every_child_it_touched() {
        assert_eq!(change_note("Created", &[]), None);
        assert_eq!(
            change_note("Pruned", &[child("Service", "shop-api")]).as_deref(),
            Some("Pruned 1 object: Service/shop-api")
        );
        assert_eq!(
            change_note(
                "Created",
                &[
                    child("Service", "shop-web"),
                    child("Deployment", "shop-web")
                ]
            )
            .as_deref(),
            Some("Created 2 objects: Service/shop-web, Deployment/shop-web")
        );
    }

    #[test]
    fn a_long_change_note_stays_under_the_event_limit_and_says_how_many_it_left_out() {
        let children: Vec<_> = (0..200)
            .map(|i| child("Deployment", &format!("a-rather-long-tier-name-{i}")))
            .collect();
        let note = change_note("Updated", &children).unwrap_or_default();
        assert!(note.len() <= 1000, "{} bytes", note.len());
        assert!(note.starts_with("Updated 200 objects: Deployment/a-rather-long-tier-name-0,"));
        assert!(note.ends_with(" more"), "{note}");
    }

    #[test]
    fn an_updated_note_says_what_it_put_back_with_numbers_but_not_strings() {
        let put_back = [
            PutBack::new(
                child("Deployment", "shop-web"),
                "spec.replicas".into(),
                &serde_json::json!(3),
            ),
            PutBack::new(
                child("Deployment", "shop-api"),
                "spec.template.spec.containers[0].env[0].value".into(),
                &serde_json::json!("hunter2"),
            ),
        ];
        let note = with_put_back(
            "Updated 2 objects: Deployment/shop-web, Deployment/shop-api".into(),
            &put_back,
        );
        assert_eq!(
            note,
            "Updated 2 objects: Deployment/shop-web, Deployment/shop-api; put back what another \
             writer changed: spec.replicas of Deployment/shop-web (to 3), \
             spec.template.spec.containers[0].env[0].value of Deployment/shop-api"
        );
        let many: Vec<_> = (0..100).map(|_| put_back[0].clone()).collect();
        assert!(with_put_back("Updated".into(), &many).len() <= crate::runtime::events::NOTE_LIMIT);
        assert_eq!(with_put_back("Updated".into(), &[]), "Updated");
    }
}
