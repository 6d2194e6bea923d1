//! The data-tier dependencies of a TieredApp, a step of its own between validate and
//! build because it is the one that reads other objects: whether each referenced
//! ManagedDatabase and CacheCluster is Ready (a tier whose database or cache is not is
//! frozen: neither applied nor pruned, unless it already runs on exactly their
//! connection Secrets), and a hash of its connection Secret for the pod template (so
//! that rotated credentials roll the tier). Reads only; the Secret's values never leave
//! this module, only their hash.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Api;
use kube::core::object::HasStatus;
use sha2::{Digest, Sha256};

use crate::api::conditions::{READY, reasons};
use crate::api::{CacheCluster, ManagedDatabase};
use crate::controllers::tiered_app::build::deployment::SECRET_HASH_ANNOTATION;
use crate::controllers::tiered_app::build::{Child, TierWiring, Wiring};
use crate::controllers::tiered_app::error::{Error, Result};
use crate::controllers::tiered_app::validated::ValidatedApp;
use crate::runtime::kstatus::WithConditions;

/// What one tier depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierDependencies {
    /// Tier name.
    pub tier: String,
    /// Name of the Deployment of the tier.
    pub deployment: String,
    /// Referenced ManagedDatabase.
    pub database: Option<String>,
    /// Referenced CacheCluster.
    pub cache: Option<String>,
}

/// What each tier of `app` depends on, in spec order.
pub fn tiers(app: &ValidatedApp) -> Vec<TierDependencies> {
    app.tiers
        .iter()
        .map(|tier| TierDependencies {
            tier: tier.name.clone(),
            deployment: tier.child_name.clone(),
            database: tier.database.clone(),
            cache: tier.cache.clone(),
        })
        .collect()
}

/// Whether a dependency can be used, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Ready; the hash of its connection Secret's data.
    Ready {
        /// Hex hash of the Secret data.
        secret_hash: String,
    },
    /// Not usable yet.
    Waiting {
        /// Why, in words.
        why: String,
        /// The hash of its connection Secret's data when the Secret exists (the
        /// resource exists but is not Ready: a backup, a modification, a stall).
        secret_hash: Option<String>,
        /// The object is being deleted (`metadata.deletionTimestamp` set): unlike a
        /// day-2 window it will not come back, so a tier that runs on it is not Ready
        /// either.
        deleting: bool,
    },
}

/// The two kinds a tier can depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DependencyKind {
    /// A ManagedDatabase.
    Database,
    /// A CacheCluster.
    Cache,
}

impl DependencyKind {
    /// The Kubernetes kind.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Database => "ManagedDatabase",
            Self::Cache => "CacheCluster",
        }
    }
}

/// Hash of a Secret's data: keys and values, in key order.
pub fn secret_hash(secret: &Secret) -> String {
    let mut hasher = Sha256::new();
    for (key, value) in secret.data.iter().flatten() {
        hasher.update(key.as_bytes());
        hasher.update([0]);
        hasher.update(&value.0);
        hasher.update([0]);
    }
    for (key, value) in secret.string_data.iter().flatten() {
        hasher.update(key.as_bytes());
        hasher.update([1]);
        hasher.update(value.as_bytes());
        hasher.update([1]);
    }
    hex::encode(&hasher.finalize()[..8])
}

/// The connection hash a live Deployment's pod template carries
/// ([`SECRET_HASH_ANNOTATION`]): the Secrets its pods run on. `deployment` is the
/// object as JSON (the cached form keeps the annotations tiered applies).
pub fn live_secret_hash(deployment: &serde_json::Value) -> Option<String> {
    deployment
        .pointer("/spec/template/metadata/annotations")?
        .get(SECRET_HASH_ANNOTATION)?
        .as_str()
        .map(str::to_owned)
}

fn is_ready(conditions: &[Condition]) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == READY && c.status == "True")
}

/// Looks dependencies up once per reconcile.
pub struct Resolver {
    client: kube::Client,
    namespace: String,
    seen: BTreeMap<(DependencyKind, String), Readiness>,
}

impl Resolver {
    /// A resolver for one namespace.
    pub fn new(client: kube::Client, namespace: String) -> Self {
        Self {
            client,
            namespace,
            seen: BTreeMap::new(),
        }
    }

    /// Readiness of `kind` `name` (cached for this reconcile).
    pub async fn readiness(&mut self, kind: DependencyKind, name: &str) -> Result<Readiness> {
        let key = (kind, name.to_owned());
        if let Some(known) = self.seen.get(&key) {
            return Ok(known.clone());
        }
        let found = self.lookup(kind, name).await?;
        self.seen.insert(key, found.clone());
        Ok(found)
    }

    /// The `K` named `name` in the namespace, if any.
    async fn get<K: Child>(&self, name: &str) -> kube::Result<Option<K>> {
        Api::<K>::namespaced(self.client.clone(), &self.namespace)
            .get_opt(name)
            .await
    }

    /// `(Ready, connection Secret name, being deleted)` of the `K` named `name`, when it
    /// exists; `connection_secret` reads the Secret's name from its status.
    async fn found<K: Child + HasStatus<Status: WithConditions>>(
        &self,
        name: &str,
        connection_secret: impl FnOnce(&K::Status) -> Option<&str>,
    ) -> kube::Result<Option<(bool, Option<String>, bool)>> {
        Ok(self.get::<K>(name).await?.map(|object| {
            let deleting = object.meta().deletion_timestamp.is_some();
            let status = object.status();
            let ready = status.is_some_and(|status| is_ready(status.conditions()));
            let secret = status.and_then(connection_secret).map(str::to_owned);
            (ready, secret, deleting)
        }))
    }

    async fn lookup(&self, kind: DependencyKind, name: &str) -> Result<Readiness> {
        let fetch = |source| Error::Fetch {
            kind: kind.kind(),
            name: name.to_owned(),
            source,
        };
        let found = match kind {
            DependencyKind::Database => {
                self.found::<ManagedDatabase>(name, |status| status.connection_secret.as_deref())
                    .await
            }
            DependencyKind::Cache => {
                self.found::<CacheCluster>(name, |status| status.connection_secret.as_deref())
                    .await
            }
        }
        .map_err(fetch)?;
        let Some((ready, secret_name, deleting)) = found else {
            return Ok(Readiness::Waiting {
                why: format!("{} {name} does not exist", kind.kind()),
                secret_hash: None,
                deleting: false,
            });
        };
        let secret_name = secret_name.unwrap_or_else(|| format!("{name}-connection"));
        let secret = self
            .get::<Secret>(&secret_name)
            .await
            .map_err(|source| Error::Fetch {
                kind: "Secret",
                name: secret_name.clone(),
                source,
            })?;
        let secret_hash = secret.as_ref().map(secret_hash);
        Ok(match (ready, secret_hash) {
            (_, secret_hash) if deleting => Readiness::Waiting {
                why: format!("{} {name} is being deleted", kind.kind()),
                secret_hash,
                deleting,
            },
            (true, Some(secret_hash)) => Readiness::Ready { secret_hash },
            (false, secret_hash) => Readiness::Waiting {
                why: format!("{} {name} is not Ready", kind.kind()),
                secret_hash,
                deleting,
            },
            (true, None) => Readiness::Waiting {
                why: format!(
                    "{} {name} is Ready but its Secret {secret_name} does not exist yet",
                    kind.kind()
                ),
                secret_hash: None,
                deleting,
            },
        })
    }
}

/// Tiers held back by their dependencies, and the connection hashes of the others.
#[derive(Debug, Default)]
pub struct Frozen {
    /// Tiers whose database or cache is not Ready.
    pub tiers: BTreeSet<String>,
    /// The first of them, or the first tier whose database or cache is being deleted:
    /// the `Ready` reason and message it gives the app.
    pub waiting: Option<(&'static str, String)>,
    /// Per tier, the hash of the connection Secrets it uses.
    pub hashes: BTreeMap<String, String>,
}

impl Frozen {
    /// The builders' input from the connection hashes per tier.
    pub fn wiring(&self) -> Wiring {
        Wiring {
            tiers: self
                .hashes
                .iter()
                .map(|(tier, hash)| {
                    let tier_wiring = TierWiring {
                        secret_hash: Some(hash.clone()),
                        ..TierWiring::default()
                    };
                    (tier.clone(), tier_wiring)
                })
                .collect(),
            ..Wiring::default()
        }
    }
}

/// Looks up every tier's database and cache: a tier whose database or cache is not
/// Ready is frozen, unless `live_hash` (the connection hash on the pod template of the
/// tier's live Deployment, when it has one) shows that it already runs on exactly their
/// current connection Secrets. A database or cache of a running app is not Ready in
/// every day-2 window (a backup, a modification, a parameter change); freezing the tier
/// then would hold back its own changes (an image fix) for as long as the window lasts,
/// while the first rollout, new credentials and a switch to another resource still wait
/// for Ready. A database or cache being deleted makes the app not Ready
/// (`WaitingForDatabase`/`WaitingForCache`) even while the tier runs on it: it will not
/// come back, and Argo CD must not show the app Healthy meanwhile.
pub async fn resolve(
    client: kube::Client,
    namespace: &str,
    tiers: &[TierDependencies],
    live_hash: impl Fn(&TierDependencies) -> Option<String>,
) -> Result<Frozen> {
    let mut resolver = Resolver::new(client, namespace.to_owned());
    let mut frozen = Frozen::default();
    for tier in tiers {
        let deps = [
            (DependencyKind::Database, &tier.database),
            (DependencyKind::Cache, &tier.cache),
        ];
        let mut hash_parts = Vec::new();
        let mut every_secret = true;
        // The first dependency that is not Ready, one being deleted before the others:
        // `(kind, why, deleting)`.
        let mut waiting: Option<(DependencyKind, String, bool)> = None;
        for (kind, dep) in deps {
            let Some(dep) = dep else { continue };
            match resolver.readiness(kind, dep).await? {
                Readiness::Ready { secret_hash } => hash_parts.push(secret_hash),
                Readiness::Waiting {
                    why,
                    secret_hash,
                    deleting,
                } => {
                    match secret_hash {
                        Some(hash) => hash_parts.push(hash),
                        None => every_secret = false,
                    }
                    if waiting.as_ref().is_none_or(|first| deleting && !first.2) {
                        waiting = Some((kind, why, deleting));
                    }
                }
            }
        }
        let hash = (!hash_parts.is_empty()).then(|| hash_parts.join("-"));
        if let Some((kind, why, deleting)) = waiting {
            let live = live_hash(tier);
            let runs_on_them = every_secret && hash.is_some() && live == hash;
            if !runs_on_them {
                frozen.tiers.insert(tier.tier.clone());
            }
            // A day-2 window of a dependency the tier runs on does not make the app not
            // Ready; a deletion does, since the tier is about to lose it.
            let message = match (runs_on_them, live.is_some()) {
                (true, _) if deleting => {
                    Some(format!("tier {} is rolled out, but {why}", tier.tier))
                }
                (true, _) => None,
                (false, true) => Some(format!(
                    "tier {} is held at its last rollout: {why}",
                    tier.tier
                )),
                (false, false) => Some(format!("tier {} is not rolled out: {why}", tier.tier)),
            };
            if let Some(message) = message {
                let reason = match kind {
                    DependencyKind::Database => reasons::WAITING_FOR_DATABASE,
                    DependencyKind::Cache => reasons::WAITING_FOR_CACHE,
                };
                frozen.waiting.get_or_insert((reason, message));
            }
        }
        if let Some(hash) = hash {
            frozen.hashes.insert(tier.tier.clone(), hash);
        }
    }
    Ok(frozen)
}
