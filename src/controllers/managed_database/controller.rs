//! The ManagedDatabase controller's wiring, kept thin: its names and context for the
//! shared data-tier runner in `crate::controllers::data_tier::runner` (one kube-runtime `Controller`
//! per watched namespace, `DeserializeGuard`, the trigger predicate, owned Secrets,
//! metrics, the finalizer). What a reconcile does to Kubernetes is in
//! [`crate::controllers::managed_database::apply`], to AWS in `reconcile` / `delete`.

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;

use crate::api::ManagedDatabase;
use crate::api::managed_database::ROTATE_PASSWORD_ANNOTATION;
use crate::controllers::data_tier::runner::{self, DataTier};
use crate::runtime::context::Context;
use crate::runtime::scope::ControllerConfig;

use crate::controllers::managed_database::apply::{apply, delete};
use crate::controllers::managed_database::reconcile::RdsContext;

pub use crate::controllers::data_tier::apply::{Error, FIELD_MANAGER};
/// The finalizer that guards the DB instance.
pub const FINALIZER: &str = "tiered.io/database";
/// The `controller` label of this controller's metrics.
pub const CONTROLLER: &str = "manageddatabase";
/// Label selector of the connection Secrets the controller owns.
pub const SECRET_SELECTOR: &str =
    "app.kubernetes.io/managed-by=tiered,app.kubernetes.io/component=database";

/// What the reconciles of one ManagedDatabase controller share.
pub struct DatabaseContext {
    /// The process-wide context (client, metrics, Event publisher, AWS clients).
    pub ctx: Context,
    /// RDS client and settings, with the process' shared fleet read.
    pub rds: RdsContext,
    /// Resync period of converged objects.
    pub resync: Duration,
}

impl DatabaseContext {
    /// The context of a controller of `ctx`'s process.
    pub fn new(ctx: Context, resync: Duration) -> Self {
        let rds = RdsContext {
            rds: ctx.aws.rds.clone(),
            cluster: ctx.cluster_name.clone(),
            fleet: Some(Arc::clone(&ctx.aws.rds_fleet)),
            adoption_namespaces: ctx.adoption_namespaces(),
        };
        Self { ctx, rds, resync }
    }
}

impl DataTier for DatabaseContext {
    type Object = ManagedDatabase;
    const CONTROLLER: &'static str = CONTROLLER;
    const FINALIZER: &'static str = FINALIZER;
    const SECRET_SELECTOR: &'static str = SECRET_SELECTOR;
    const TRIGGER_ANNOTATIONS: &'static [&'static str] = &[ROTATE_PASSWORD_ANNOTATION];

    fn operator(&self) -> &Context {
        &self.ctx
    }

    async fn apply(&self, database: &ManagedDatabase) -> Result<Action, Error> {
        Box::pin(apply(database, self)).await
    }

    async fn cleanup(&self, database: &ManagedDatabase) -> Result<Action, Error> {
        Box::pin(delete(database, self)).await
    }
}

/// Runs one ManagedDatabase controller until `shutdown` resolves. `synced` fires once
/// its caches (ManagedDatabases and connection Secrets) have their first full list.
pub async fn run(
    ctx: Context,
    config: ControllerConfig,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
    synced: tokio::sync::oneshot::Sender<()>,
) {
    let context = Arc::new(DatabaseContext::new(ctx, config.resync));
    runner::run(context, config, shutdown, synced).await;
}
