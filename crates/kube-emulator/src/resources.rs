//! The kinds the emulator serves: the built-in table and the custom kinds that CRDs
//! register. Pure data; discovery, routing and storage all read it.

use std::sync::Arc;

use serde_json::Value;

use super::meta::strings;
use super::scale::ScaleSubresource;
use super::schema::CompiledCrdSchema;

/// One served resource (a group/version/plural), as discovery describes it.
#[derive(Debug, Clone)]
#[allow(clippy::struct_excessive_bools)] // independent facts of discovery, not a state machine
pub struct ResourceType {
    /// API group, `""` for the core group.
    pub group: String,
    /// Version, like `v1`.
    pub version: String,
    /// Kind, like `Deployment`.
    pub kind: String,
    /// Plural resource name used in URLs, like `deployments`.
    pub plural: String,
    /// Singular name, like `deployment`.
    pub singular: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Short names (`deploy`).
    pub short_names: Vec<String>,
    /// Categories (`all`).
    pub categories: Vec<String>,
    /// Whether a `/status` subresource exists.
    pub status_subresource: bool,
    /// The `/scale` subresource, when the kind has one (Deployments; CRD versions with
    /// `subresources.scale`).
    pub scale: Option<ScaleSubresource>,
    /// Whether `metadata.generation` is maintained.
    pub tracks_generation: bool,
    /// Whether the kind comes from a CRD.
    pub custom: bool,
    /// For custom kinds: the version's `openAPIV3Schema`.
    pub schema: Option<Value>,
    /// For custom kinds: the schema compiled once for validation.
    pub compiled: Option<Arc<CompiledCrdSchema>>,
}

/// `<name><sep><group>`, or just `name` for the core group.
fn with_group(name: &str, separator: char, group: &str) -> String {
    if group.is_empty() {
        name.to_owned()
    } else {
        format!("{name}{separator}{group}")
    }
}

impl ResourceType {
    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Where objects of this resource are stored, shared by all versions: `apps/deployments`;
    /// both Event APIs share core's (`/events`, [`crate::events_conversion`]).
    pub fn store_key(&self) -> String {
        if crate::events_conversion::is_event(self) {
            return crate::events_conversion::STORE_KEY.to_owned();
        }
        format!("{}/{}", self.group, self.plural)
    }

    /// `deployments.apps`, or `configmaps` for the core group, as error messages print it.
    pub fn qualified_resource(&self) -> String {
        with_group(&self.plural, '.', &self.group)
    }

    /// `TieredApp.tiered.io`, or `ConfigMap` for the core group, as 422 messages print it.
    pub fn qualified_kind(&self) -> String {
        with_group(&self.kind, '.', &self.group)
    }

    /// `group/version/Kind` as the patch engines take it (`v1/Service` for the core group).
    pub fn gvk(&self) -> String {
        format!("{}/{}", self.api_version(), self.kind)
    }

    /// The verbs discovery lists for this resource.
    pub fn verbs(&self) -> Vec<&'static str> {
        vec![
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]
    }
}

/// One row of the built-in table: group, version, kind, plural, namespaced, short
/// names, status subresource, generation, category `all`.
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [&'static str],
    bool,
    bool,
    bool,
);

// Unwrapped: one kind a line reads as a table.
#[rustfmt::skip]
const BUILTINS: &[Row] = &[
    ("", "v1", "Namespace", "namespaces", false, &["ns"], true, false, false),
    ("", "v1", "ConfigMap", "configmaps", true, &["cm"], false, false, false),
    ("", "v1", "Secret", "secrets", true, &[], false, false, false),
    ("", "v1", "Service", "services", true, &["svc"], true, false, true),
    ("", "v1", "ServiceAccount", "serviceaccounts", true, &["sa"], false, false, false),
    ("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", true, &["pvc"], true, false, false),
    ("", "v1", "Event", "events", true, &["ev"], false, false, false),
    ("", "v1", "Pod", "pods", true, &["po"], true, false, true),
    ("apps", "v1", "Deployment", "deployments", true, &["deploy"], true, true, true),
    ("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true, &["hpa"], true, true, true),
    ("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", true, &["pdb"], true, true, false),
    ("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", true, &["netpol"], false, true, false),
    ("networking.k8s.io", "v1", "Ingress", "ingresses", true, &["ing"], true, true, false),
    ("coordination.k8s.io", "v1", "Lease", "leases", true, &[], false, false, false),
    ("events.k8s.io", "v1", "Event", "events", true, &["ev"], false, false, false),
    ("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", false, &[], false, false, false),
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", false, &[], false, false, false),
    ("rbac.authorization.k8s.io", "v1", "Role", "roles", true, &[], false, false, false),
    ("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", true, &[], false, false, false),
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", false, &["crd", "crds"], true, true, false),
];

/// The table of built-in kinds the emulator serves.
pub fn builtins() -> Vec<ResourceType> {
    BUILTINS
        .iter()
        .map(
            |&(group, version, kind, plural, namespaced, short_names, status, generation, all)| {
                ResourceType {
                    group: group.to_owned(),
                    version: version.to_owned(),
                    kind: kind.to_owned(),
                    plural: plural.to_owned(),
                    singular: kind.to_lowercase(),
                    namespaced,
                    short_names: short_names.iter().map(|s| (*s).to_owned()).collect(),
                    categories: if all {
                        vec!["all".to_owned()]
                    } else {
                        Vec::new()
                    },
                    status_subresource: status,
                    scale: (group == "apps" && plural == "deployments")
                        .then(ScaleSubresource::deployment),
                    tracks_generation: generation,
                    custom: false,
                    schema: None,
                    compiled: None,
                }
            },
        )
        .collect()
}

/// The served resources: built-ins plus the kinds of established CRDs.
#[derive(Debug, Clone)]
pub struct Registry {
    resources: Vec<Arc<ResourceType>>,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            resources: builtins().into_iter().map(Arc::new).collect(),
        }
    }
}

impl Registry {
    /// Every served resource, in a stable order (built-ins first).
    pub fn all(&self) -> &[Arc<ResourceType>] {
        &self.resources
    }

    /// The resource served at `group/version/plural`.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
            .cloned()
    }

    /// The resource of an object's `apiVersion` and `kind`.
    pub fn find_kind(&self, api_version: &str, kind: &str) -> Option<Arc<ResourceType>> {
        // `group/version`, or just `version` for the core group (as
        // [`ResourceType::api_version`] writes it), compared without building it: the
        // garbage collector asks for every owner reference of every object.
        let (group, version) = match api_version.split_once('/') {
            Some(("", _)) => return None,
            Some(split) => split,
            None => ("", api_version),
        };
        self.resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.kind == kind)
            .cloned()
    }

    /// Replaces the kinds a CRD named `crd_name` serves with `kinds`.
    pub fn set_custom(&mut self, group: &str, plural: &str, kinds: Vec<ResourceType>) {
        self.remove_custom(group, plural);
        self.resources.extend(kinds.into_iter().map(Arc::new));
    }

    /// Removes the kinds served for a CRD's `group` and `plural`.
    pub fn remove_custom(&mut self, group: &str, plural: &str) {
        self.resources
            .retain(|r| !(r.custom && r.group == group && r.plural == plural));
    }
}

/// The resource types a CRD object declares, one per served version.
pub fn kinds_of_crd(crd: &Value) -> Vec<ResourceType> {
    let spec = &crd["spec"];
    let names = &spec["names"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let kind = text(&names["kind"]);
    let singular = match names["singular"].as_str() {
        Some(s) if !s.is_empty() => s.to_owned(),
        _ => kind.to_lowercase(),
    };
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    versions
        .iter()
        .filter(|v| v["served"].as_bool().unwrap_or(true))
        .map(|v| ResourceType {
            group: text(&spec["group"]),
            version: text(&v["name"]),
            kind: kind.clone(),
            plural: text(&names["plural"]),
            singular: singular.clone(),
            namespaced: spec["scope"].as_str() != Some("Cluster"),
            short_names: strings(&names["shortNames"]),
            categories: strings(&names["categories"]),
            status_subresource: v["subresources"].get("status").is_some(),
            scale: ScaleSubresource::of_crd_version(v),
            tracks_generation: true,
            custom: true,
            schema: v["schema"].get("openAPIV3Schema").cloned(),
            compiled: v["schema"]
                .get("openAPIV3Schema")
                .map(|s| Arc::new(CompiledCrdSchema::new(s))),
        })
        .collect()
}
