//! Set-up and checks that the moto tests of both kinds repeat: a kind reconciled to
//! Ready on its own `moto_server`, a modify that names its fields and then settles, a
//! cleanup that waited on the final snapshot.

use serde_json::Value;
use tiered::controllers::data_tier::Spec;
use tiered::controllers::data_tier::cleanup::Cleanup;
use tiered::controllers::data_tier::kind::Report;
use tiered::controllers::data_tier::status::Progress;

use super::{Kind, in_progress_message, reconcile_once, reconcile_until_ready, resource};
use crate::support::moto::MotoServer;

/// `K` on a private `moto_server`, its object reconciled until Ready with a spec.
pub struct OnMoto<K: Kind> {
    /// The kind's clients, on `server`.
    pub ctx: K,
    /// The spec the object was reconciled with.
    pub spec: Spec<K>,
    /// The last pass, the one that found it Ready.
    pub report: Report<K::Observed>,
    /// Kept so that the server runs as long as the test holds this.
    pub server: MotoServer,
}

/// Starts a `moto_server` and reconciles the object `name` with `K::spec(extra)` until
/// it is Ready.
pub async fn ready_on_moto<K: Kind>(name: &str, extra: &Value) -> OnMoto<K> {
    let server = MotoServer::start();
    let ctx = K::on(&server);
    let spec = K::spec(extra);
    let report = reconcile_until_ready(&ctx, name, &spec).await;
    OnMoto {
        ctx,
        spec,
        report,
        server,
    }
}

impl<K: Kind> OnMoto<K> {
    /// Reconciles the object `name` with `after`: that pass must be InProgress naming
    /// `fields` (the end of its message), the next one Ready with no call. Returns the
    /// resource as AWS describes it after the modify.
    pub async fn assert_modifies_only(
        &self,
        name: &str,
        after: &Spec<K>,
        fields: &str,
    ) -> K::Resource {
        let modified = reconcile_once(&self.ctx, name, after).await;
        let message = in_progress_message(&modified.progress);
        assert!(message.ends_with(fields), "{message}");
        let changed = resource(&self.ctx, &self.report.id)
            .await
            .expect("the resource after the modify");
        let settled = reconcile_once(&self.ctx, name, after).await;
        assert_eq!(settled.mutations, 0);
        assert_eq!(
            settled.progress,
            Progress::Ready {
                message: String::new()
            }
        );
        changed
    }
}

/// Checks that the cleanup `steps` waited on the final snapshot of the resource `id`
/// (named `<id>-final-<deletion time>`), and returns that name.
pub fn assert_waited_on_final_snapshot(steps: &[Cleanup], id: &str) -> String {
    let expected = format!("{id}-final-20260102030405");
    assert!(
        steps.iter().any(
            |s| matches!(s, Cleanup::Waiting { snapshot: Some(name), .. } if *name == expected)
        ),
        "{steps:?}"
    );
    expected
}
