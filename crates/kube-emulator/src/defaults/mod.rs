//! Defaulting of the built-in kinds, as kube-apiserver's defaulters do it when they decode
//! a write (`k8s.io/kubernetes/pkg/apis/*/v1/defaults.go`), plus what the registries set on
//! a write (a Service's cluster IP and IP families, a Secret's `stringData` folded into
//! `data`). The write handlers run it on every create, update, patch and apply, after the
//! patch engines and before validation, so a field an apply stops sending is first removed
//! (it left the applier's field set) and then defaulted: a Deployment whose applied
//! configuration drops `spec.replicas` gets `1`, exactly as on a real cluster
//! (kubernetes/kubernetes#25238). Defaulted fields are not recorded for an applier: its
//! `managedFields` entry holds only what it applied.
//!
//! Done: Deployment (`replicas`, `strategy`, `revisionHistoryLimit`,
//! `progressDeadlineSeconds`, the pod template in `pod`), Pod (its spec), Service,
//! `HorizontalPodAutoscaler` (autoscaling/v2), `NetworkPolicy`, Secret, Namespace.
//! Nothing for `ConfigMap`, `ServiceAccount`, Event, Lease, `PodDisruptionBudget` and
//! networking/v1 Ingress: upstream has no defaults for them.

mod pod;

use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use serde_json::{Value, json};

use crate::resources::ResourceType;

/// Sets `key` to `value` when it is absent, `null` or `""` (a Go string field's zero).
fn default_str(object: &mut Value, key: &str, value: &str) {
    if let Some(map) = object.as_object_mut()
        && map.get(key).is_none_or(|v| v.is_null() || v == "")
    {
        map.insert(key.to_owned(), json!(value));
    }
}

/// Sets `key` to `value` when it is absent or `null` (a Go pointer field's zero).
fn default_value(object: &mut Value, key: &str, value: Value) {
    if let Some(map) = object.as_object_mut()
        && map.get(key).is_none_or(Value::is_null)
    {
        map.insert(key.to_owned(), value);
    }
}

/// Runs `f` on every item of the list at `key`, if there is one.
fn each_item(object: &mut Value, key: &str, f: impl FnMut(&mut Value)) {
    if let Some(items) = object.get_mut(key).and_then(Value::as_array_mut) {
        items.iter_mut().for_each(f);
    }
}

/// Defaults `object`, a write of kind `rt` (`old`: the stored object on update, whose
/// allocated cluster IP a Service keeps). `next_cluster_ip` hands out a free Service IP.
pub fn apply(
    rt: &ResourceType,
    object: &mut Value,
    old: Option<&Value>,
    next_cluster_ip: impl FnOnce() -> String,
) {
    if rt.custom {
        return;
    }
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("apps", "Deployment") => deployment(object),
        ("", "Pod") => {
            if let Some(spec) = object.get_mut("spec") {
                pod::pod_spec(spec);
            }
        }
        ("", "Service") => service(object, old, next_cluster_ip),
        ("autoscaling", "HorizontalPodAutoscaler") => hpa(object),
        ("networking.k8s.io", "NetworkPolicy") => network_policy(object),
        ("", "Secret") => secret(object),
        ("", "Namespace") => namespace(object),
        _ => {}
    }
}

/// apps/v1 `SetDefaults_Deployment`, then the pod template's defaults.
fn deployment(object: &mut Value) {
    let Some(spec) = object.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    default_value(spec, "replicas", json!(1));
    default_value(spec, "strategy", json!({}));
    let strategy = &mut spec["strategy"];
    default_str(strategy, "type", "RollingUpdate");
    if strategy["type"] == "RollingUpdate" {
        default_value(strategy, "rollingUpdate", json!({}));
        let rolling = &mut strategy["rollingUpdate"];
        default_value(rolling, "maxUnavailable", json!("25%"));
        default_value(rolling, "maxSurge", json!("25%"));
    }
    default_value(spec, "revisionHistoryLimit", json!(10));
    default_value(spec, "progressDeadlineSeconds", json!(600));
    if let Some(template_spec) = spec.pointer_mut("/template/spec") {
        pod::pod_spec(template_spec);
    }
}

/// core/v1 `SetDefaults_Service`, and what the Service registry allocates: a cluster IP
/// (kept from `old` when an update leaves it out, as `patchAllocatedValues` does), IPv4
/// single-stack IP families.
fn service(object: &mut Value, old: Option<&Value>, next_cluster_ip: impl FnOnce() -> String) {
    let Some(spec) = object.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    default_str(spec, "sessionAffinity", "None");
    if spec["sessionAffinity"] == "None"
        && let Some(map) = spec.as_object_mut()
    {
        map.remove("sessionAffinityConfig");
    }
    default_str(spec, "type", "ClusterIP");
    each_item(spec, "ports", |port| {
        default_str(port, "protocol", "TCP");
        if port
            .get("targetPort")
            .is_none_or(|t| t.is_null() || t == 0 || t == "")
        {
            port["targetPort"] = port["port"].clone();
        }
    });
    let type_ = spec["type"].as_str().unwrap_or_default().to_owned();
    if type_ == "NodePort" || type_ == "LoadBalancer" {
        default_str(spec, "externalTrafficPolicy", "Cluster");
    }
    if type_ != "ExternalName" {
        default_str(spec, "internalTrafficPolicy", "Cluster");
    }
    if type_ == "LoadBalancer" {
        default_value(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
    if type_ == "ExternalName" {
        return;
    }
    if let Some(old_spec) = old.map(|o| &o["spec"]) {
        for key in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            if spec.get(key).is_none_or(|v| v.is_null() || v == "") && !old_spec[key].is_null() {
                spec[key] = old_spec[key].clone();
            }
        }
    }
    if spec["clusterIP"].as_str().is_none_or(str::is_empty) {
        spec["clusterIP"] = json!(next_cluster_ip());
    }
    default_value(spec, "clusterIPs", json!([spec["clusterIP"].clone()]));
    default_value(spec, "ipFamilies", json!(["IPv4"]));
    default_str(spec, "ipFamilyPolicy", "SingleStack");
}

/// autoscaling/v2 `SetDefaults_HorizontalPodAutoscaler`: `minReplicas` 1, a CPU target of
/// 80% when no metric is given, and, only when `behavior` is given, every unset scaling
/// rule field (`GenerateHPAScaleUpRules` / `GenerateHPAScaleDownRules`).
fn hpa(object: &mut Value) {
    let Some(spec) = object.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    default_value(spec, "minReplicas", json!(1));
    if spec["metrics"].as_array().is_none_or(Vec::is_empty) {
        spec["metrics"] = json!([{"type": "Resource", "resource": {"name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": 80}}}]);
    }
    let Some(behavior) = spec.get_mut("behavior").filter(|b| b.is_object()) else {
        return;
    };
    default_value(behavior, "scaleUp", json!({}));
    let up = &mut behavior["scaleUp"];
    default_value(up, "stabilizationWindowSeconds", json!(0));
    default_value(up, "selectPolicy", json!("Max"));
    default_value(
        up,
        "policies",
        json!([
            {"type": "Pods", "value": 4, "periodSeconds": 15},
            {"type": "Percent", "value": 100, "periodSeconds": 15},
        ]),
    );
    default_value(behavior, "scaleDown", json!({}));
    let down = &mut behavior["scaleDown"];
    // No stabilization window: the controller's --horizontal-pod-autoscaler-downscale-
    // stabilization flag (5 minutes) applies, as upstream.
    default_value(down, "selectPolicy", json!("Max"));
    default_value(
        down,
        "policies",
        json!([{"type": "Percent", "value": 100, "periodSeconds": 15}]),
    );
}

/// networking/v1 `SetDefaults_NetworkPolicy` (policy types `Ingress`, plus `Egress` when
/// egress rules exist) and `SetDefaults_NetworkPolicyPort` (protocol TCP).
fn network_policy(object: &mut Value) {
    let Some(spec) = object.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    if spec["policyTypes"].as_array().is_none_or(Vec::is_empty) {
        let mut types = vec![json!("Ingress")];
        if spec["egress"].as_array().is_some_and(|e| !e.is_empty()) {
            types.push(json!("Egress"));
        }
        spec["policyTypes"] = Value::Array(types);
    }
    for direction in ["ingress", "egress"] {
        each_item(spec, direction, |rule| {
            each_item(rule, "ports", |port| default_str(port, "protocol", "TCP"));
        });
    }
}

/// core/v1 `SetDefaults_Secret` (type `Opaque`) and the v1 → internal conversion, which
/// folds the write-only `stringData` into `data` (base64), `stringData` winning.
fn secret(object: &mut Value) {
    default_str(object, "type", "Opaque");
    let Some(map) = object.as_object_mut() else {
        return;
    };
    let Some(Value::Object(strings)) = map.remove("stringData") else {
        return;
    };
    let data = map.entry("data").or_insert_with(|| json!({}));
    if data.is_null() {
        *data = json!({});
    }
    for (key, value) in strings {
        let text = value.as_str().unwrap_or_default();
        data[key] = json!(BASE64_STANDARD.encode(text.as_bytes()));
    }
}

/// core/v1 `SetDefaults_Namespace`: the `kubernetes.io/metadata.name` label, always.
fn namespace(object: &mut Value) {
    let name = object["metadata"]["name"].clone();
    if !object["metadata"]["labels"].is_object() {
        object["metadata"]["labels"] = json!({});
    }
    object["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
}
