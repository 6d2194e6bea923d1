//! The scale workload: an emulator with the tiered CRDs and a `bench` namespace, the
//! three-tier TieredApp every run creates, and the children the builders want for it.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{ApiResource, ListParams, PostParams};
use kube_emulator::{Emulator, EmulatorHandle, EmulatorOptions};
use tiered::api::TieredApp;
use tiered::controllers::tiered_app::build::{
    Child, ChildVisitor, DesiredChildren, ValidatedApp, Wiring, desired_children,
};
use tiered::controllers::tiered_app::validate::validate;

use crate::BenchResult;

/// Namespace of every benchmark app.
pub const NAMESPACE: &str = "bench";

/// App number `index`: web (presentation, ingress, calls api), api (application) and
/// worker (calls api), each autoscaled so that it gets an HPA and a PDB; web and api get
/// a Service. No database or cache, so no tier waits.
pub fn app(index: usize) -> BenchResult<TieredApp> {
    let yaml = format!(
        r"
apiVersion: tiered.io/v1alpha1
kind: TieredApp
metadata: {{name: app-{index}, namespace: {NAMESPACE}}}
spec:
  tiers:
    - name: web
      role: presentation
      image: ghcr.io/acme/web:1.0.0
      port: 8080
      autoscaling: {{minReplicas: 2, maxReplicas: 10, targetCPUUtilization: 70}}
      healthCheck: {{path: /health}}
      ingress: {{host: app-{index}.example.com}}
      calls: [api]
    - name: api
      role: application
      image: ghcr.io/acme/api:1.0.0
      port: 5000
      autoscaling: {{minReplicas: 2, maxReplicas: 20, targetCPUUtilization: 70}}
    - name: worker
      role: worker
      image: ghcr.io/acme/worker:1.0.0
      autoscaling: {{minReplicas: 2, maxReplicas: 5, targetCPUUtilization: 80}}
      calls: [api]
"
    );
    Ok(serde_norway::from_str(&yaml)?)
}

/// `app` validated, as the reconcile sees it.
pub fn validated(app: &TieredApp) -> BenchResult<ValidatedApp> {
    validate(app).map_err(|errors| {
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        format!("the benchmark app is invalid: {}", messages.join("; ")).into()
    })
}

/// How many children of each kind one app has, in apply order.
pub fn children_per_app() -> BenchResult<[usize; DesiredChildren::KINDS]> {
    Ok(desired_children(&validated(&app(0)?)?, &Wiring::default()).counts())
}

/// The emulator's count of each child kind, read off the builders' own list of kinds
/// ([`DesiredChildren::visit`]), so a new kind is counted too.
struct StoredCounts<'a> {
    emulator: &'a EmulatorHandle,
    counts: Vec<usize>,
}

impl ChildVisitor for StoredCounts<'_> {
    type Error = Infallible;

    fn visit<K: Child>(&mut self, _: &'static str, _: &[K]) -> Result<(), Infallible> {
        let resource = ApiResource::erase::<K>(&());
        self.counts.push(
            self.emulator
                .object_count(&resource.group, &resource.plural),
        );
        Ok(())
    }
}

/// Stored children of every kind, in apply order.
pub fn stored_children(emulator: &EmulatorHandle) -> Vec<usize> {
    let mut stored = StoredCounts {
        emulator,
        counts: Vec::new(),
    };
    let Ok(()) = DesiredChildren::default().visit(&mut stored);
    stored.counts
}

/// Starts an emulator with the `bench` namespace and the tiered CRDs, served.
pub async fn start_emulator() -> BenchResult<EmulatorHandle> {
    let emulator = Emulator::start(EmulatorOptions {
        namespaces: vec![
            "default".to_owned(),
            "kube-system".to_owned(),
            NAMESPACE.to_owned(),
        ],
        ..EmulatorOptions::default()
    })
    .await?;
    let crds: Api<CustomResourceDefinition> = Api::all(emulator.client());
    for crd in tiered::api::crds() {
        crds.create(&PostParams::default(), &crd).await?;
    }
    let apps: Api<TieredApp> = Api::all(emulator.client());
    let deadline = Instant::now() + Duration::from_secs(10);
    while apps.list(&ListParams::default().limit(1)).await.is_err() {
        if Instant::now() > deadline {
            return Err("the TieredApp kind was not served within 10 s".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(emulator)
}

/// Counts requests by `verb resource[/subresource]`.
pub fn breakdown<'a>(
    records: impl Iterator<Item = &'a kube_emulator::RequestRecord>,
) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for record in records {
        let mut key = format!("{} {}", record.verb, record.resource);
        if !record.subresource.is_empty() {
            key.push('/');
            key.push_str(&record.subresource);
        }
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}
