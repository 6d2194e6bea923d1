//! Sandbox mode only: stands in for the kubelet and the Deployment controller by giving
//! every Deployment a "everything is available" `status` a short delay after each
//! generation change, and every Ingress a placeholder load-balancer host name (what the
//! AWS Load Balancer Controller would write). In test mode nothing touches `status`.

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::Shared;
use super::lifecycle;
use super::store::{EventType, now_timestamp};

fn ingress_needs_address(ingress: &Value) -> bool {
    ingress["status"]["loadBalancer"]["ingress"]
        .as_array()
        .is_none_or(Vec::is_empty)
}

/// A host name under `.invalid` (RFC 2606), so nobody mistakes it for a real ALB.
fn ingress_address(ingress: &Value) -> Value {
    let (namespace, name) = super::store::namespace_and_name(ingress);
    json!({"loadBalancer": {"ingress": [{"hostname": format!("{name}.{namespace}.alb.sandbox.invalid")}]}})
}

fn needs_status(deployment: &Value) -> bool {
    deployment["status"]["observedGeneration"] != deployment["metadata"]["generation"]
}

/// The status a healthy Deployment reports once its pods run.
fn available_status(deployment: &Value) -> Value {
    let replicas = deployment["spec"]["replicas"].as_i64().unwrap_or(1);
    let now = now_timestamp();
    let condition = |kind: &str, reason: &str, message: &str| json!({"type": kind, "status": "True", "lastUpdateTime": now, "lastTransitionTime": now, "reason": reason, "message": message});
    json!({
        "observedGeneration": deployment["metadata"]["generation"],
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
        "conditions": [
            condition("Available", "MinimumReplicasAvailable", "Deployment has minimum availability."),
            condition("Progressing", "NewReplicaSetAvailable", "ReplicaSet has successfully progressed."),
        ],
    })
}

/// A controller sandbox mode stands in for: the kind it serves (store key), whether an
/// object still waits for it, and the status it writes.
struct Stand {
    key: &'static str,
    waits: fn(&Value) -> bool,
    status: fn(&Value) -> Value,
}

static STANDS: [Stand; 2] = [
    Stand {
        key: "apps/deployments",
        waits: needs_status,
        status: available_status,
    },
    Stand {
        key: "networking.k8s.io/ingresses",
        waits: ingress_needs_address,
        status: ingress_address,
    },
];

/// Writes `stand`'s status into the object, if it still waits for it.
fn settle(shared: &Shared, stand: &Stand, namespace: &str, name: &str) {
    let mut world = shared.store.lock();
    let Some(current) = world.get(stand.key, namespace, name) else {
        return;
    };
    if !(stand.waits)(current) {
        return;
    }
    let mut updated = current.clone();
    updated["status"] = (stand.status)(current);
    lifecycle::store(&mut world, stand.key, updated);
}

/// The sandbox task: watches Deployments and marks them available after `delay`.
pub async fn run(shared: Arc<Shared>) {
    let mut events = shared.store.lock().subscribe();
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        let change = tokio::select! {
            change = events.recv() => change,
            _ = shutdown.recv() => return,
        };
        let change = match change {
            Ok(change) => change,
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return,
        };
        if change.event == EventType::Deleted {
            continue;
        }
        let Some(stand) = STANDS
            .iter()
            .find(|s| s.key == change.key && (s.waits)(&change.object))
        else {
            continue;
        };
        let (namespace, name) = super::store::namespace_and_name(&change.object);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            tokio::time::sleep(shared.options.sandbox_delay).await;
            settle(&shared, stand, &namespace, &name);
        });
    }
}
