//! Spec and status pieces that more than one kind uses: references, AWS networking,
//! deletion and adoption rules, endpoints, and the conditions list schema.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A reference by name to another tiered object in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
pub struct LocalRef {
    /// Name of the referenced object, in the same namespace as the referrer.
    #[serde(rename = "ref")]
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub name: String,
}

/// Where an AWS data-tier resource lives in the VPC.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsNetwork {
    /// Name of an existing subnet group (RDS DB subnet group or ElastiCache cache subnet
    /// group) spanning at least two Availability Zones.
    #[schemars(length(min = 1, max = 255))]
    pub subnet_group_name: Option<String>,
    /// VPC security groups to attach, e.g. `sg-0abc1234`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5), inner(regex(pattern = r"^sg-[0-9a-f]{8,17}$")))]
    pub security_group_ids: Vec<String>,
}

/// Transform of an enum that a field uses as `Option<Enum>`: drops the enum's own
/// description from its schema. kube's `OptionalEnum` rewrite of `anyOf: [enum, null]`
/// copies the enum's schema over the field's, so the enum's description replaced the
/// field's (the one naming each value and the default) in the CRD and `kubectl explain`.
pub fn field_describes_enum(schema: &mut schemars::Schema) {
    if let Some(object) = schema.as_object_mut() {
        object.remove("description");
    }
}

/// What happens to the AWS resource when the Kubernetes object is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = field_describes_enum)]
pub enum DeletionPolicy {
    /// Take a final snapshot named after the object and the deletion time, then delete.
    Snapshot,
    /// Leave the AWS resource running and remove only tiered's ownership tags.
    Retain,
    /// Delete without a final snapshot. The data is gone.
    Delete,
}

/// A network endpoint reported by AWS.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
pub struct Endpoint {
    /// DNS name of the endpoint.
    pub address: String,
    /// TCP port of the endpoint.
    pub port: i32,
}

/// `pattern` of a tier name or a tier in `calls`: a DNS-1035 label (child objects are
/// named after it, and Service names must be DNS-1035 labels).
pub const DNS_1035_LABEL: &str = r"^[a-z]([-a-z0-9]*[a-z0-9])?$";
/// `pattern` of an HTTP path (health check, ingress path): `/` and no whitespace.
pub const HTTP_PATH: &str = r"^/[^\s]*$";
/// `pattern` of an engine version, RDS or ElastiCache: `16.4`, `8.0`, `7.1.x`.
pub const ENGINE_VERSION: &str = r"^[0-9]+(\.[0-9A-Za-z_-]+)*$";
/// `pattern` of a weekly window in UTC, `ddd:hh:mm-ddd:hh:mm` (maintenance windows of
/// RDS and ElastiCache).
pub const WEEKLY_WINDOW: &str = r"^(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]-(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]$";
/// `pattern` of a daily window in UTC, `hh:mm-hh:mm` (backup and snapshot windows).
pub const DAILY_WINDOW: &str = r"^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$";
/// `pattern` of an existing RDS instance identifier or ElastiCache replication group id
/// to adopt (the length limit differs per service).
pub const AWS_IDENTIFIER: &str = r"^[a-zA-Z][a-zA-Z0-9-]*$";

/// Tag keys that tiered reserves for its ownership claim.
pub const TAG_PREFIX: &str = "tiered.io/";

/// Annotation that asks for a reconcile of a ManagedDatabase or CacheCluster now, not
/// at the next resync: set it to any new value (`kubectl annotate mdb NAME
/// tiered.io/reconcile-requested-at=$(date +%s) --overwrite`), e.g. after tagging a
/// restore source with `tiered.io/restorable` or fixing something in AWS. Flux's
/// `reconcile.fluxcd.io/requestedAt` works the same way. Other metadata edits trigger
/// nothing (found from outside: "touch the object" in docs/disaster-recovery.md did
/// nothing but a spec change).
pub const RECONCILE_REQUESTED_AT_ANNOTATION: &str = "tiered.io/reconcile-requested-at";

/// Schema of a `conditions` list: `metav1.Condition` items, a map keyed by `type`, as
/// kstatus and server-side apply expect.
pub fn conditions_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut schema = generator.subschema_for::<Vec<Condition>>();
    schema.insert("x-kubernetes-list-type".into(), "map".into());
    schema.insert(
        "x-kubernetes-list-map-keys".into(),
        serde_json::json!(["type"]),
    );
    schema
}

/// Writes the status struct of a tiered kind, opening with the two fields every kind
/// reports for kstatus (`crate::runtime::kstatus`): `observedGeneration` and the
/// `conditions` list; the kind's own fields follow.
///
/// A macro, not a `#[serde(flatten)]`ed struct, so that the fields stay
/// `status.conditions` and `status.observed_generation` in Rust and the CRD schema
/// stays as it is.
macro_rules! kind_status {
    ($(#[$attr:meta])* pub struct $name:ident { $($fields:tt)* }) => {
        $(#[$attr])*
        #[serde_with::skip_serializing_none]
        #[derive(
            serde::Serialize,
            serde::Deserialize,
            Clone,
            Debug,
            Default,
            PartialEq,
            kube::KubeSchema,
        )]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            /// The `metadata.generation` this status describes.
            pub observed_generation: Option<i64>,
            /// `Ready`, `Reconciling` and `Stalled`, in the `metav1.Condition` shape.
            #[serde(default)]
            #[schemars(schema_with = "crate::api::shared::conditions_schema")]
            pub conditions: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
            $($fields)*
        }
    };
}
pub(crate) use kind_status;
