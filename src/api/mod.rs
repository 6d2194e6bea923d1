//! The public API of tiered: the three custom resources of `tiered.io/v1alpha1` and the
//! condition types and reasons they report. Types only; no client code lives here.
//!
//! An `Option` field is left out of the JSON when it is `None` and read as `None` when it
//! is missing: each struct with such fields carries `#[serde_with::skip_serializing_none]`
//! (above its `#[derive]`, so that serde and schemars see the attribute it adds to each
//! field), one attribute per struct instead of one per field.

// kube-derive printcolumn attributes repeat `type_ = "string"`, which clippy mistakes for
// duplicated attributes.
#![allow(clippy::duplicated_attributes)]

pub mod cache_cluster;
pub mod conditions;
pub mod managed_database;
pub mod parameters;
pub mod replication;
pub mod shared;
pub mod snapshots;
pub mod tiered_app;

pub use cache_cluster::{CacheCluster, CacheClusterSpec, CacheClusterStatus};
pub use managed_database::{ManagedDatabase, ManagedDatabaseSpec, ManagedDatabaseStatus};
pub use tiered_app::{TieredApp, TieredAppSpec, TieredAppStatus};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// API group of every tiered kind.
pub const GROUP: &str = "tiered.io";
/// API version of every tiered kind.
pub const VERSION: &str = "v1alpha1";

/// The CustomResourceDefinitions of all three kinds, in a stable order.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        TieredApp::crd(),
        ManagedDatabase::crd(),
        CacheCluster::crd(),
    ]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::managed_database::{DatabaseEngine, ManagedDatabaseSpec};
    use super::shared::Endpoint;
    use super::{CacheClusterStatus, ManagedDatabaseStatus};

    /// The JSON tiered writes to the API server: `None` fields (renamed ones included)
    /// are left out, and a missing `Option` field reads as `None`.
    #[test]
    fn none_fields_are_omitted_and_missing_fields_read_as_none() {
        let minimal = json!({
            "engine": "postgres",
            "instanceClass": "db.t4g.micro",
            "storage": {"allocatedGiB": 20},
            "databaseName": "app",
            "masterUsername": "admin",
        });
        let spec: ManagedDatabaseSpec = serde_json::from_value(minimal).unwrap();
        assert_eq!(spec.engine, DatabaseEngine::Postgres);
        assert_eq!(spec.engine_version, None);
        assert_eq!(spec.storage.max_allocated_gib, None);
        assert_eq!(spec.storage.storage_type, None);
        assert_eq!(spec.credentials, None);
        assert_eq!(spec.replica_of, None);
        assert_eq!(
            serde_json::to_value(&spec).unwrap(),
            json!({
                "engine": "postgres",
                "allowMajorVersionUpgrade": false,
                "instanceClass": "db.t4g.micro",
                "storage": {"allocatedGiB": 20},
                "databaseName": "app",
                "masterUsername": "admin",
                "applyImmediately": false,
            })
        );

        let status: CacheClusterStatus = serde_json::from_value(json!({})).unwrap();
        assert_eq!(status, CacheClusterStatus::default());
        assert_eq!(
            serde_json::to_value(&status).unwrap(),
            json!({"conditions": []})
        );
    }

    /// The enum properties of `schema` (not array items), as (path, description, values).
    fn enum_properties(
        schema: &serde_json::Value,
        path: &str,
        found: &mut Vec<(String, String, Vec<String>)>,
    ) {
        for (name, property) in schema["properties"].as_object().into_iter().flatten() {
            let here = format!("{path}.{name}");
            if let Some(values) = property["enum"].as_array() {
                let values = values.iter().filter_map(|v| v.as_str()).map(String::from);
                let description = property["description"].as_str().unwrap_or_default();
                found.push((here.clone(), description.to_owned(), values.collect()));
            }
            enum_properties(property, &here, found);
            enum_properties(&property["items"], &format!("{here}[]"), found);
        }
    }

    /// `kubectl explain` of an enum field shows the field's own description, which names
    /// its values (and the default), not the enum type's. An `Option<Enum>` field lost
    /// it to the type's description (kube's `OptionalEnum` rewrite).
    #[test]
    fn every_enum_field_keeps_its_own_description_naming_its_values() {
        let mut checked = 0;
        for crd in super::crds() {
            let version = &crd.spec.versions[0];
            let schema = version.schema.as_ref().unwrap().open_api_v3_schema.as_ref();
            let schema = serde_json::to_value(schema.unwrap()).unwrap();
            let mut found = Vec::new();
            enum_properties(&schema, &crd.spec.names.kind, &mut found);
            for (path, description, values) in found {
                assert!(
                    values
                        .iter()
                        .any(|v| description.contains(&format!("`{v}`"))),
                    "{path}: {description:?} names none of {values:?}"
                );
                checked += 1;
            }
        }
        // deletionPolicy (twice), storage.type, whenDeleted, capacityType, protocol,
        // scheme, provider, and the enums that were never optional.
        assert!(checked >= 14, "only {checked} enum fields found");
    }

    #[test]
    fn set_option_fields_round_trip_under_their_json_names() {
        let written = json!({
            "engine": "postgres",
            "engineVersion": "16.4",
            "allowMajorVersionUpgrade": false,
            "instanceClass": "db.t4g.micro",
            "storage": {"allocatedGiB": 20, "maxAllocatedGiB": 100, "type": "gp3"},
            "databaseName": "app",
            "masterUsername": "admin",
            "applyImmediately": false,
        });
        let spec: ManagedDatabaseSpec = serde_json::from_value(written.clone()).unwrap();
        assert_eq!(spec.engine_version.as_deref(), Some("16.4"));
        assert_eq!(spec.storage.max_allocated_gib, Some(100));
        assert_eq!(serde_json::to_value(&spec).unwrap(), written);

        let status = ManagedDatabaseStatus {
            observed_generation: Some(3),
            endpoint: Some(Endpoint {
                address: "db.example".into(),
                port: 5432,
            }),
            ..Default::default()
        };
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(
            json,
            json!({
                "observedGeneration": 3,
                "conditions": [],
                "endpoint": {"address": "db.example", "port": 5432},
            })
        );
        assert_eq!(
            serde_json::from_value::<ManagedDatabaseStatus>(json).unwrap(),
            status
        );
    }
}
