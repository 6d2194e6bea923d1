//! The shape of objects as the patch engines need it: which lists merge by key, which are
//! sets, which lists and maps are atomic. Built-in kinds use a small hand-written table (the
//! `patchMergeKey` / `listMapKeys` tags of k8s.io/api); custom resources read
//! `x-kubernetes-list-type`, `x-kubernetes-list-map-keys` and `x-kubernetes-map-type` from
//! the CRD schema. Everything not described is "deduced": maps merge field by field, lists
//! are atomic, exactly like structured-merge-diff's deduced type.

use serde_json::Value;

/// API groups served by kube-apiserver itself (strategic merge patch is accepted for them).
const BUILTIN_GROUPS: &[&str] = &[
    "",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "apps",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "internal.apiserver.k8s.io",
    "networking.k8s.io",
    "node.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "resource.k8s.io",
    "scheduling.k8s.io",
    "storage.k8s.io",
    "storagemigration.k8s.io",
];

/// Splits `group/version/Kind` (or `version/Kind` for the core group) into its parts.
pub(crate) fn split_gvk(gvk: &str) -> (&str, &str, &str) {
    let mut parts = gvk.rsplitn(3, '/');
    let kind = parts.next().unwrap_or_default();
    let version = parts.next().unwrap_or_default();
    let group = parts.next().unwrap_or_default();
    (group, version, kind)
}

/// Whether `gvk` names a kind that kube-apiserver serves itself (not a custom resource).
pub(crate) fn is_builtin(gvk: &str) -> bool {
    BUILTIN_GROUPS.contains(&split_gvk(gvk).0)
}

/// How a list merges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ListKind {
    /// Replaced as a whole (the default).
    Atomic,
    /// A set of scalars: merged by value.
    Set,
    /// A list of objects identified by key fields. `merge_key` is the strategic merge
    /// patch key, `keys` the server-side apply list-map keys (sometimes more than one),
    /// `defaults` the schema defaults of key fields, which stand in for an absent key
    /// field when an item is identified (structured-merge-diff's
    /// `getAssociativeKeyDefault`): an applied port without `protocol` is the live
    /// `protocol: TCP` port.
    Map {
        merge_key: String,
        keys: Vec<String>,
        defaults: Vec<(String, Value)>,
    },
}

/// The shape of one node of an object.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Shape<'a> {
    /// A node of a built-in kind (or deduced).
    Builtin(Ty),
    /// A node of a CRD `openAPIV3Schema`; `root` is true for the schema's top.
    Crd { node: &'a Value, root: bool },
}

/// Built-in node types that carry merge information. Everything else is `Deduced`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    Root(RootKind),
    ObjectMeta,
    PodTemplateSpec,
    PodSpec,
    Container,
    WorkloadSpec,
    CronJobSpec,
    JobTemplate,
    ServiceSpec,
    Status,
    AtomicMap,
    Keyed {
        merge_key: &'static str,
        keys: &'static [&'static str],
        item: &'static Ty,
    },
    Set,
    Deduced,
}

/// Top-level kinds whose `spec` / `status` carry merge information.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RootKind {
    Pod,
    PodTemplate,
    Workload,
    CronJob,
    Service,
    ServiceAccount,
    Other,
}

const fn keyed(merge_key: &'static str, keys: &'static [&'static str], item: &'static Ty) -> Ty {
    Ty::Keyed {
        merge_key,
        keys,
        item,
    }
}

const BY_NAME: Ty = keyed("name", &["name"], &Ty::Deduced);

impl<'a> Shape<'a> {
    /// The shape of a whole object of `gvk`, from the CRD schema when there is one.
    pub(crate) fn for_object(gvk: &str, schema: Option<&'a Value>) -> Self {
        if let Some(node) = schema {
            return Shape::Crd { node, root: true };
        }
        let kind = match split_gvk(gvk) {
            ("", _, "Pod") => RootKind::Pod,
            ("", _, "PodTemplate") => RootKind::PodTemplate,
            ("apps", _, "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")
            | ("batch", _, "Job")
            | ("", _, "ReplicationController") => RootKind::Workload,
            ("batch", _, "CronJob") => RootKind::CronJob,
            ("", _, "Service") => RootKind::Service,
            ("", _, "ServiceAccount") => RootKind::ServiceAccount,
            _ => RootKind::Other,
        };
        Shape::Builtin(Ty::Root(kind))
    }

    /// The shape of field `name` of this (object) node.
    pub(crate) fn field(self, name: &str) -> Shape<'a> {
        match self {
            Shape::Builtin(ty) => Shape::Builtin(builtin_field(ty, name)),
            Shape::Crd { node, root } => {
                if root && name == "metadata" {
                    return Shape::Builtin(Ty::ObjectMeta);
                }
                let child = node
                    .get("properties")
                    .and_then(|props| props.get(name))
                    .or_else(|| node.get("additionalProperties").filter(|v| v.is_object()));
                match child {
                    Some(node) => Shape::Crd { node, root: false },
                    None => Shape::Builtin(Ty::Deduced),
                }
            }
        }
    }

    /// The shape of the items of this (list) node.
    pub(crate) fn item(self) -> Shape<'a> {
        match self {
            Shape::Builtin(Ty::Keyed { item, .. }) => Shape::Builtin(*item),
            Shape::Builtin(_) => Shape::Builtin(Ty::Deduced),
            Shape::Crd { node, .. } => match node.get("items") {
                Some(node) => Shape::Crd { node, root: false },
                None => Shape::Builtin(Ty::Deduced),
            },
        }
    }

    /// How this (list) node merges.
    pub(crate) fn list_kind(self) -> ListKind {
        match self {
            // Every list-map key of the built-in kinds that has a default is a port's
            // `protocol` (`+default="TCP"` in k8s.io/api).
            Shape::Builtin(Ty::Keyed {
                merge_key, keys, ..
            }) => ListKind::Map {
                merge_key: merge_key.to_owned(),
                keys: keys.iter().map(|k| (*k).to_owned()).collect(),
                defaults: keys
                    .iter()
                    .filter(|k| **k == "protocol")
                    .map(|k| ((*k).to_owned(), Value::from("TCP")))
                    .collect(),
            },
            Shape::Builtin(Ty::Set) => ListKind::Set,
            Shape::Builtin(_) => ListKind::Atomic,
            Shape::Crd { node, .. } => {
                match node.get("x-kubernetes-list-type").and_then(Value::as_str) {
                    Some("set") => ListKind::Set,
                    Some("map") => {
                        let keys: Vec<String> = node
                            .get("x-kubernetes-list-map-keys")
                            .and_then(Value::as_array)
                            .map(|keys| {
                                keys.iter()
                                    .filter_map(Value::as_str)
                                    .map(str::to_owned)
                                    .collect()
                            })
                            .unwrap_or_default();
                        let defaults = keys
                            .iter()
                            .filter_map(|k| {
                                let default =
                                    node.pointer(&format!("/items/properties/{k}/default"))?;
                                Some((k.clone(), default.clone()))
                            })
                            .collect();
                        match keys.first() {
                            Some(first) => ListKind::Map {
                                merge_key: first.clone(),
                                keys,
                                defaults,
                            },
                            None => ListKind::Atomic,
                        }
                    }
                    _ => ListKind::Atomic,
                }
            }
        }
    }

    /// Whether this (object) node is replaced as a whole rather than merged field by field.
    pub(crate) fn is_atomic_map(self) -> bool {
        match self {
            Shape::Builtin(ty) => ty == Ty::AtomicMap,
            Shape::Crd { node, .. } => {
                node.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic")
            }
        }
    }
}

/// The table of built-in fields with merge information, copied from the struct tags of
/// k8s.io/api (`patchStrategy`/`patchMergeKey`, `listType`/`listMapKey`, `structType`).
fn builtin_field(ty: Ty, name: &str) -> Ty {
    match (ty, name) {
        (Ty::Root(_) | Ty::PodTemplateSpec | Ty::JobTemplate, "metadata") => Ty::ObjectMeta,
        (Ty::Root(_), "status") => Ty::Status,
        (Ty::Root(RootKind::Pod) | Ty::PodTemplateSpec, "spec") => Ty::PodSpec,
        (Ty::Root(RootKind::Workload) | Ty::JobTemplate, "spec") => Ty::WorkloadSpec,
        (Ty::Root(RootKind::CronJob), "spec") => Ty::CronJobSpec,
        (Ty::Root(RootKind::Service), "spec") => Ty::ServiceSpec,
        (Ty::Root(RootKind::PodTemplate) | Ty::WorkloadSpec, "template") => Ty::PodTemplateSpec,
        (Ty::CronJobSpec, "jobTemplate") => Ty::JobTemplate,
        (Ty::WorkloadSpec | Ty::ServiceSpec, "selector") => Ty::AtomicMap,
        (Ty::Root(RootKind::ServiceAccount), "secrets")
        | (Ty::PodSpec, "volumes" | "imagePullSecrets" | "schedulingGates" | "resourceClaims")
        | (Ty::Container, "env") => BY_NAME,
        (Ty::ObjectMeta, "ownerReferences") => keyed("uid", &["uid"], &Ty::Deduced),
        (Ty::ObjectMeta, "finalizers") => Ty::Set,
        (Ty::PodSpec, "containers" | "initContainers" | "ephemeralContainers") => {
            keyed("name", &["name"], &Ty::Container)
        }
        (Ty::PodSpec, "hostAliases") => keyed("ip", &["ip"], &Ty::Deduced),
        (Ty::PodSpec, "topologySpreadConstraints") => keyed(
            "topologyKey",
            &["topologyKey", "whenUnsatisfiable"],
            &Ty::Deduced,
        ),
        (Ty::Container, "ports") => keyed(
            "containerPort",
            &["containerPort", "protocol"],
            &Ty::Deduced,
        ),
        (Ty::Container, "volumeMounts") => keyed("mountPath", &["mountPath"], &Ty::Deduced),
        (Ty::Container, "volumeDevices") => keyed("devicePath", &["devicePath"], &Ty::Deduced),
        (Ty::Container, "resizePolicy") => keyed("resourceName", &["resourceName"], &Ty::Deduced),
        (Ty::ServiceSpec, "ports") => keyed("port", &["port", "protocol"], &Ty::Deduced),
        (Ty::Status, "conditions") => keyed("type", &["type"], &Ty::Deduced),
        _ => Ty::Deduced,
    }
}
