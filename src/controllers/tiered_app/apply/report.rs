//! What one apply/prune pass of a TieredApp did: the children it created, updated and
//! pruned, the names it left alone because another owner holds them ([`Conflict`]),
//! and the Events that say so ([`publish_report`]).

use std::fmt::Write as _;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Resource;
use kube::runtime::events::EventType;

use crate::runtime::context::Context;

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
    /// Whether an apply of an earlier pass is not in the stores yet, so this pass held
    /// it back: the live view is behind (look again soon, do not judge the rollout).
    pub behind: bool,
}

/// One Event per kind of change (Created, Updated, Pruned) that lists the children it
/// touched, e.g. `Created 5 objects: Service/shop-web, Deployment/shop-web, …`: one write
/// for a whole app instead of one per child (the operator benchmark's request count).
pub async fn publish_report(ctx: &Context, regarding: &ObjectReference, report: &ApplyReport) {
    for (list, reason) in [
        (&report.created, "Created"),
        (&report.updated, "Updated"),
        (&report.pruned, "Pruned"),
    ] {
        for child in list {
            tracing::info!(child = %child, action = reason, "child written");
        }
        if let Some(note) = change_note(reason, list) {
            ctx.events
                .emit(regarding, EventType::Normal, reason, "Apply", note)
                .await;
        }
    }
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
}
