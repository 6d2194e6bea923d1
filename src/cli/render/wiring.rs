//! What `tiered render` knows offline of a TieredApp's wiring, which the operator
//! reads from the cluster: the database port of a ManagedDatabase given in the same
//! input; no Secret hashes, cache ports or live replica counts. Pure.

use super::parse::Document;
use crate::api::TieredApp;
use crate::api::managed_database::DatabaseEngine;
use crate::controllers::tiered_app::build::{TierWiring, Wiring};
use crate::controllers::tiered_app::validate::DEFAULT_NAMESPACE;

/// Wiring known offline: the database port from a ManagedDatabase in the same input.
pub(super) fn offline_wiring(app: &TieredApp, documents: &[Document]) -> Wiring {
    let namespace = app
        .metadata
        .namespace
        .as_deref()
        .unwrap_or(DEFAULT_NAMESPACE);
    let database_port = |name: &str| {
        documents.iter().find_map(|document| match document {
            Document::Database { database, .. }
                if database.metadata.name.as_deref() == Some(name)
                    && database
                        .metadata
                        .namespace
                        .as_deref()
                        .unwrap_or(DEFAULT_NAMESPACE)
                        == namespace =>
            {
                Some(match database.spec.engine {
                    DatabaseEngine::Postgres => 5432,
                    DatabaseEngine::Mysql | DatabaseEngine::Mariadb => 3306,
                })
            }
            _ => None,
        })
    };
    Wiring {
        tiers: app
            .spec
            .tiers
            .iter()
            .map(|tier| {
                let wiring = TierWiring {
                    secret_hash: None,
                    database_port: tier
                        .database
                        .as_ref()
                        .and_then(|db| database_port(&db.name)),
                    cache_port: None,
                    live_replicas: None,
                };
                (tier.name.clone(), wiring)
            })
            .collect(),
        ..Wiring::default()
    }
}
