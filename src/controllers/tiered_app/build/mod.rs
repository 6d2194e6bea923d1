//! From a validated TieredApp ([`ValidatedApp`], what `validate` hands over) to the
//! Kubernetes objects the operator applies for it: pure builders, one module per kind,
//! gathered by [`desired_children`]. Nothing here takes a client; the reconcile loop
//! applies the result and prunes by [`labels::prune_selector`].

pub mod deployment;
pub mod hpa;
pub mod ingress;
pub mod labels;
pub mod naming;
pub mod network_policy;
pub mod pdb;
pub mod placement;
pub mod quantity;
pub mod replicas;
pub mod resources;
pub mod service;
pub mod service_account;
pub mod volume;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use kube::Resource;
use serde::Serialize;
use serde::de::DeserializeOwned;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

pub use super::validated::{SpecError, ValidatedApp, ValidatedTier};
use crate::runtime::children::{ChildKinds, Lists};
pub use crate::runtime::context::ClusterDns;
pub use naming::{child_name, connection_secret_name};
pub use replicas::LiveReplicas;

/// Port of the cache (Valkey and Redis) that egress policies open.
pub const CACHE_PORT: i32 = 6379;
/// Database ports opened when the engine is not known (PostgreSQL, MySQL/MariaDB).
pub const DEFAULT_DATABASE_PORTS: [i32; 2] = [5432, 3306];

/// What the builders need to know about each tier beyond its spec, gathered by the
/// reconcile loop: data-tier facts from the ManagedDatabase / CacheCluster objects and
/// their Secrets, and the replica count of the live Deployment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Wiring {
    /// Per tier name; a tier without an entry gets [`TierWiring::default`].
    pub tiers: BTreeMap<String, TierWiring>,
    /// Where the cluster's DNS answers (the operator's `--dns-*` flags).
    pub dns: ClusterDns,
}

impl Wiring {
    /// The wiring of one tier (empty when none was given).
    pub fn tier(&self, name: &str) -> TierWiring {
        self.tiers.get(name).cloned().unwrap_or_default()
    }

    /// Sets where the cluster's DNS answers.
    #[must_use]
    pub fn with_cluster_dns(mut self, dns: ClusterDns) -> Self {
        self.dns = dns;
        self
    }

    /// Adds what the live Deployments of the tiers show (tier name, live replicas); a
    /// tier without an entry has no Deployment yet.
    #[must_use]
    pub fn with_live_replicas(
        mut self,
        live: impl IntoIterator<Item = (String, LiveReplicas)>,
    ) -> Self {
        for (tier, replicas) in live {
            self.tiers.entry(tier).or_default().live_replicas = Some(replicas);
        }
        self
    }
}

/// What the reconcile loop knows about one tier beyond its spec. The connection Secret
/// names are not here: they follow from the tier's `database`/`cache` refs
/// ([`connection_secret_name`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TierWiring {
    /// Hash of the data the tier's connection Secrets hold (e.g. sha256 over their
    /// `resourceVersion`s or contents), written to the pod template annotation
    /// [`deployment::SECRET_HASH_ANNOTATION`] so that the tier rolls when credentials
    /// rotate. `None`: no annotation.
    pub secret_hash: Option<String>,
    /// Port of the referenced database (from its status endpoint or engine). `None`
    /// opens both [`DEFAULT_DATABASE_PORTS`] in the egress policy.
    pub database_port: Option<i32>,
    /// Port of the referenced cache. `None` means [`CACHE_PORT`].
    pub cache_port: Option<i32>,
    /// The replica count and handover annotation of the tier's live Deployment; `None`
    /// when it has none yet (or offline, in `tiered render`). See [`replicas`].
    pub live_replicas: Option<LiveReplicas>,
}

/// Every object the operator applies for one TieredApp: a list per kind of child.
pub type DesiredChildren = ChildKinds<Lists>;

/// A kind of child object: a namespaced built-in type that is applied whole.
pub trait Child:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Debug
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
}

impl<K> Child for K where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned
        + Send
        + Sync
        + 'static
{
}

/// What a caller does with each list of [`DesiredChildren`] (write it out, count it,
/// apply it), called by [`DesiredChildren::visit`].
pub trait ChildVisitor {
    /// What stops the pass.
    type Error;
    /// One list, `field` being its name in [`DesiredChildren`] (`network_policies`).
    fn visit<K: Child>(&mut self, field: &'static str, objects: &[K]) -> Result<(), Self::Error>;
}

impl DesiredChildren {
    /// Number of child kinds, the length of [`DesiredChildren::counts`].
    pub const KINDS: usize = 8;

    /// Hands every list to `visitor`, in apply order. The one place besides the
    /// reconcile that names the lists (without `..`), so a new child kind reaches
    /// `tiered render`, the benchmark and the tests at once.
    pub fn visit<V: ChildVisitor>(&self, visitor: &mut V) -> Result<(), V::Error> {
        let Self {
            claims,
            service_accounts,
            deployments,
            services,
            hpas,
            pdbs,
            network_policies,
            ingresses,
        } = self;
        visitor.visit("claims", claims)?;
        visitor.visit("service_accounts", service_accounts)?;
        visitor.visit("deployments", deployments)?;
        visitor.visit("services", services)?;
        visitor.visit("hpas", hpas)?;
        visitor.visit("pdbs", pdbs)?;
        visitor.visit("network_policies", network_policies)?;
        visitor.visit("ingresses", ingresses)
    }

    /// How many objects of each kind, in apply order.
    pub fn counts(&self) -> [usize; Self::KINDS] {
        struct Counts([usize; DesiredChildren::KINDS], usize);
        impl ChildVisitor for Counts {
            type Error = Infallible;
            fn visit<K: Child>(
                &mut self,
                _: &'static str,
                objects: &[K],
            ) -> Result<(), Infallible> {
                if let Some(count) = self.0.get_mut(self.1) {
                    *count = objects.len();
                }
                self.1 += 1;
                Ok(())
            }
        }
        let mut counts = Counts([0; Self::KINDS], 0);
        let Ok(()) = self.visit(&mut counts);
        counts.0
    }

    /// The metadata of every object, in apply order.
    pub fn metadata(&self) -> Vec<ObjectMeta> {
        struct Metadata(Vec<ObjectMeta>);
        impl ChildVisitor for Metadata {
            type Error = Infallible;
            fn visit<K: Child>(
                &mut self,
                _: &'static str,
                objects: &[K],
            ) -> Result<(), Infallible> {
                self.0
                    .extend(objects.iter().map(|object| object.meta().clone()));
                Ok(())
            }
        }
        let mut metadata = Metadata(Vec::new());
        let Ok(()) = self.visit(&mut metadata);
        metadata.0
    }
}

/// Builds every child of the app. Pure; deterministic order (spec order of tiers).
pub fn desired_children(app: &ValidatedApp, wiring: &Wiring) -> DesiredChildren {
    let mut children = DesiredChildren {
        claims: volume::desired_claims(app),
        ..DesiredChildren::default()
    };
    for tier in &app.tiers {
        let tier_wiring = wiring.tier(&tier.name);
        children
            .service_accounts
            .extend(service_account::desired_service_account(app, tier));
        children
            .deployments
            .push(deployment::desired_deployment(app, tier, &tier_wiring));
        children
            .services
            .extend(service::desired_service(app, tier));
        children.hpas.extend(hpa::desired_hpa(app, tier));
        children.pdbs.extend(pdb::desired_pdb(app, tier));
        children
            .network_policies
            .push(network_policy::desired_network_policy(
                app,
                tier,
                &tier_wiring,
                &wiring.dns,
            ));
        children
            .ingresses
            .extend(ingress::desired_ingress(app, tier));
    }
    children
}

/// The controller ownerReference every child carries, or `None` when the app has no uid
/// (a manifest read offline by `tiered render`; the API server would reject an empty uid).
pub fn owner_reference(app: &ValidatedApp) -> Option<OwnerReference> {
    app.uid.as_ref().map(|uid| OwnerReference {
        api_version: format!("{}/{}", crate::api::GROUP, crate::api::VERSION),
        kind: "TieredApp".to_owned(),
        name: app.name.clone(),
        uid: uid.clone(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    })
}

/// Name, namespace, labels and ownerReference of a tier's child object.
pub fn child_metadata(app: &ValidatedApp, tier: &ValidatedTier) -> ObjectMeta {
    ObjectMeta {
        name: Some(tier.child_name.clone()),
        namespace: Some(app.namespace.clone()),
        labels: Some(labels::tier_labels(&app.name, &tier.name, tier.role)),
        owner_references: owner_reference(app).map(|owner| vec![owner]),
        ..ObjectMeta::default()
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! A small validated app for the builders' unit tests.

    use super::ValidatedApp;
    // Test-only: the builders' tests start from YAML, through the real validation.
    use crate::api::tiered_app::TieredApp;
    use crate::controllers::tiered_app::validate::validate;

    /// Parses a TieredApp from YAML and validates it, panicking on errors (tests only).
    pub fn validated(yaml: &str) -> ValidatedApp {
        let app: TieredApp = serde_norway::from_str(yaml).unwrap();
        validate(&app).unwrap()
    }

    /// web (presentation, ingress, calls api) + api (db, cache) + worker.
    pub const THREE_TIERS: &str = r"
apiVersion: tiered.io/v1alpha1
kind: TieredApp
metadata: {name: shop, namespace: prod, uid: 1234-uid}
spec:
  tiers:
    - name: web
      role: presentation
      image: web:1
      port: 8080
      autoscaling: {minReplicas: 2, maxReplicas: 10}
      healthCheck: {path: /health}
      ingress: {host: shop.example.com, certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/abc-123', groupName: shared}
      calls: [api]
    - name: api
      role: application
      image: api:1
      port: 5000
      replicas: 3
      env: [{name: LOG_LEVEL, value: info}]
      database: {ref: shop-db}
      cache: {ref: shop-cache}
    - name: worker
      role: worker
      image: worker:1
      replicas: 1
      calls: [api]
";
}

#[cfg(test)]
mod tests {
    use super::test_support::{THREE_TIERS, validated};
    use super::*;

    #[test]
    fn every_child_is_owned_by_the_app_and_labelled_for_pruning() {
        let app = validated(THREE_TIERS);
        let metas = desired_children(&app, &Wiring::default()).metadata();
        assert_eq!(metas.len(), 3 + 2 + 1 + 2 + 3 + 1);
        for meta in &metas {
            let owner = &meta.owner_references.as_ref().unwrap()[0];
            assert_eq!(owner.api_version, "tiered.io/v1alpha1");
            assert_eq!(owner.kind, "TieredApp");
            assert_eq!(owner.uid, "1234-uid");
            assert_eq!(owner.controller, Some(true));
            assert_eq!(owner.block_owner_deletion, Some(true));
            assert_eq!(meta.namespace.as_deref(), Some("prod"));
            let object_labels = meta.labels.as_ref().unwrap();
            for (key, value) in labels::prune_labels("shop") {
                assert_eq!(object_labels.get(&key), Some(&value));
            }
        }
    }

    #[test]
    fn an_app_without_uid_gets_no_owner_reference() {
        let mut app = validated(THREE_TIERS);
        app.uid = None;
        let children = desired_children(&app, &Wiring::default());
        assert!(children.deployments[0].metadata.owner_references.is_none());
    }
}
