//! Defaulting of built-in kinds as kube-apiserver's defaulters do it
//! (`k8s.io/kubernetes/pkg/apis/*/v1/defaults.go`) on every write, server-side apply
//! included: a field the applier stops sending leaves its field set, is removed, and is
//! then defaulted — the `spec.replicas` hazard of kubernetes/kubernetes#25238.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Namespace, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

use crate::support::{apply_twice, create, deployment_json, object, start};

fn as_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap()
}

/// The field paths (`f:spec`, …) a manager's `managedFields` entry holds, as JSON text.
fn fields_of(object: &Value, manager: &str) -> String {
    object["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["manager"] == manager)
        .map(|entry| entry["fieldsV1"].to_string())
        .unwrap_or_default()
}

/// Server-side applies Deployment `web` with `spec` as manager `tiered` (forced).
async fn apply_web(api: &Api<Deployment>, spec: &Value) -> Deployment {
    let params = PatchParams::apply("tiered").force();
    api.patch("web", &params, &Patch::Apply(deployment_json("web", spec)))
        .await
        .unwrap()
}

// Upstream apps/v1 `SetDefaults_Deployment` and core/v1 `SetDefaults_PodSpec`,
// `SetDefaults_Container`, `SetDefaults_ContainerPort`, `SetDefaults_Probe`,
// `SetDefaults_HTTPGetAction`.
#[tokio::test]
async fn a_deployment_gets_the_apps_v1_and_pod_template_defaults() {
    let emu = start().await;
    let api: Api<Deployment> = Api::default_namespaced(emu.client());
    let spec = json!({"template": {"spec": {"containers": [
        {"name": "web", "image": "web:1.2", "ports": [{"containerPort": 8080}],
         "readinessProbe": {"httpGet": {"port": 8080}}},
        {"name": "tail", "image": "registry:5000/tail"},
        {"name": "pinned", "image": "tail@sha256:0123"}
    ]}}});
    let created = create(&api, &object(deployment_json("web", &spec))).await;
    let spec = &as_json(&created)["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(
        spec["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    );
    assert_eq!(
        (
            spec["revisionHistoryLimit"].clone(),
            spec["progressDeadlineSeconds"].clone()
        ),
        (json!(10), json!(600))
    );
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Always");
    assert_eq!(pod["dnsPolicy"], "ClusterFirst");
    assert_eq!(pod["terminationGracePeriodSeconds"], 30);
    assert_eq!(pod["schedulerName"], "default-scheduler");
    assert_eq!(pod["securityContext"], json!({}));
    let web = &pod["containers"][0];
    assert_eq!(web["imagePullPolicy"], "IfNotPresent");
    assert_eq!(web["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(web["terminationMessagePolicy"], "File");
    assert_eq!(web["ports"][0]["protocol"], "TCP");
    assert_eq!(
        web["readinessProbe"],
        json!({"httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
               "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
    );
    assert_eq!(
        pod["containers"][1]["imagePullPolicy"], "Always",
        "no tag means :latest"
    );
    assert_eq!(
        pod["containers"][2]["imagePullPolicy"], "IfNotPresent",
        "a digest is no :latest"
    );
}

// Upstream (kubernetes/kubernetes#25238, "migrating to horizontal autoscaling"): an applier
// that stops sending `spec.replicas` gives up the field, server-side apply removes it and
// defaulting sets 1 — the Deployment scales 6 → 1. Defaulted fields never enter the
// applier's managedFields.
#[tokio::test]
async fn an_apply_that_stops_sending_replicas_scales_the_deployment_to_one() {
    let emu = start().await;
    let api: Api<Deployment> = Api::default_namespaced(emu.client());
    let six = apply_web(&api, &json!({"replicas": 6})).await;
    assert_eq!(six.spec.as_ref().unwrap().replicas, Some(6));
    let owned = fields_of(&as_json(&six), "tiered");
    assert!(owned.contains("f:replicas"), "{owned}");
    for defaulted in [
        "f:strategy",
        "f:revisionHistoryLimit",
        "f:dnsPolicy",
        "f:imagePullPolicy",
    ] {
        assert!(
            !owned.contains(defaulted),
            "{defaulted} is defaulted, not applied: {owned}"
        );
    }
    let dropped = apply_web(&api, &json!({})).await;
    assert_eq!(dropped.spec.as_ref().unwrap().replicas, Some(1));
    assert!(!fields_of(&as_json(&dropped), "tiered").contains("f:replicas"));
    assert_eq!(dropped.metadata.generation, Some(2));
}

// Upstream (structured-merge-diff): a field another manager also owns survives the
// applier dropping it — how a hand-over to an autoscaler keeps the pod count.
#[tokio::test]
async fn replicas_another_manager_set_survive_the_applier_dropping_them() {
    let emu = start().await;
    let api: Api<Deployment> = Api::default_namespaced(emu.client());
    apply_web(&api, &json!({"replicas": 3})).await;
    let scaler = PatchParams {
        field_manager: Some("autoscaler".to_owned()),
        ..PatchParams::default()
    };
    api.patch(
        "web",
        &scaler,
        &Patch::Merge(json!({"spec": {"replicas": 5}})),
    )
    .await
    .unwrap();
    let kept = apply_web(&api, &json!({})).await;
    assert_eq!(kept.spec.unwrap().replicas, Some(5));
}

// Upstream: an apply identical to the last one changes nothing although the live object
// holds defaults the configuration lacks; a port without `protocol` is the live `TCP`
// port (structured-merge-diff keys list items with the schema default of a key field).
#[tokio::test]
async fn an_identical_apply_of_a_defaulted_object_changes_nothing() {
    let emu = start().await;
    let deployments: Api<Deployment> = Api::default_namespaced(emu.client());
    let services: Api<Service> = Api::default_namespaced(emu.client());
    let params = PatchParams::apply("tiered").force();
    let spec = json!({"template": {"spec": {"containers": [
        {"name": "web", "image": "web:1", "ports": [{"name": "http", "containerPort": 8080}]}]}}});
    let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}});
    let first = apply_web(&deployments, &spec).await;
    let again = apply_web(&deployments, &spec).await;
    assert_eq!(first.resource_version(), again.resource_version());
    let ports = &as_json(&again)["spec"]["template"]["spec"]["containers"][0]["ports"];
    assert_eq!(
        ports,
        &json!([{"name": "http", "containerPort": 8080, "protocol": "TCP"}])
    );
    let (first, again) = apply_twice(&services, "web", &params, &service).await;
    assert_eq!(first.resource_version(), again.resource_version());
    assert_eq!(again.spec.unwrap().ports.unwrap().len(), 1);
}

// Upstream: decoding defaults a PUT before the strategy compares specs, so a replace
// that leaves out defaulted fields changes nothing and keeps the generation.
#[tokio::test]
async fn a_replace_without_the_defaults_keeps_the_generation() {
    let emu = start().await;
    let api: Api<Deployment> = Api::default_namespaced(emu.client());
    let bare: Deployment = object(deployment_json("web", &json!({})));
    let created = create(&api, &bare).await;
    let mut again = bare.clone();
    again.metadata.resource_version = created.metadata.resource_version.clone();
    let replaced = api
        .replace("web", &PostParams::default(), &again)
        .await
        .unwrap();
    assert_eq!(replaced.metadata.generation, Some(1));
    assert_eq!(replaced.resource_version(), created.resource_version());
}

// Upstream core/v1 `SetDefaults_Service` (type, sessionAffinity, port protocol, targetPort
// = port, internalTrafficPolicy) and the Service registry's allocation: a cluster IP from
// the service CIDR, IPv4 single-stack, kept when a replace leaves it out.
#[tokio::test]
async fn a_service_gets_its_defaults_and_keeps_its_cluster_ip() {
    let emu = start().await;
    let api: Api<Service> = Api::default_namespaced(emu.client());
    let bare: Service = object(
        json!({"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
    );
    let created = as_json(&create(&api, &bare).await);
    let spec = &created["spec"];
    assert_eq!(
        (spec["type"].as_str(), spec["sessionAffinity"].as_str()),
        (Some("ClusterIP"), Some("None"))
    );
    assert_eq!(
        spec["ports"],
        json!([{"port": 80, "protocol": "TCP", "targetPort": 80}])
    );
    assert_eq!(
        (spec["ipFamilies"].clone(), spec["ipFamilyPolicy"].clone()),
        (json!(["IPv4"]), json!("SingleStack"))
    );
    assert_eq!(spec["internalTrafficPolicy"], "Cluster");
    let ip = spec["clusterIP"].as_str().unwrap().to_owned();
    assert!(ip.starts_with("10.96."), "{ip}");
    assert_eq!(spec["clusterIPs"], json!([ip]));

    let mut replacement = bare.clone();
    replacement.metadata.resource_version = created["metadata"]["resourceVersion"]
        .as_str()
        .map(str::to_owned);
    let replaced = api
        .replace("web", &PostParams::default(), &replacement)
        .await
        .unwrap();
    assert_eq!(
        replaced.spec.unwrap().cluster_ip.as_deref(),
        Some(ip.as_str())
    );
    let other = as_json(
        &create(
            &api,
            &object(json!({"metadata": {"name": "other"},
        "spec": {"ports": [{"port": 80}]}})),
        )
        .await,
    );
    assert_ne!(
        other["spec"]["clusterIP"],
        json!(ip),
        "each Service gets its own IP"
    );
}

// Upstream autoscaling/v2 `SetDefaults_HorizontalPodAutoscaler`: minReplicas 1, a CPU
// target of 80% without metrics, and behavior filled in only when given
// (`GenerateHPAScaleUpRules`, `GenerateHPAScaleDownRules`).
#[tokio::test]
async fn an_hpa_gets_min_replicas_and_its_behaviour_filled_in_when_given() {
    let emu = start().await;
    let api: Api<HorizontalPodAutoscaler> = Api::default_namespaced(emu.client());
    let hpa = |name: &str, extra: Value| -> HorizontalPodAutoscaler {
        let mut value = json!({"metadata": {"name": name}, "spec": {"maxReplicas": 10,
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}}});
        json_patch::merge(&mut value["spec"], &extra);
        object(value)
    };
    let plain = as_json(&create(&api, &hpa("plain", json!({}))).await);
    assert_eq!(plain["spec"]["minReplicas"], 1);
    assert_eq!(
        plain["spec"]["metrics"],
        json!([{"type": "Resource", "resource": {"name": "cpu",
        "target": {"type": "Utilization", "averageUtilization": 80}}}])
    );
    assert!(plain["spec"].get("behavior").is_none());
    let tuned = as_json(
        &create(
            &api,
            &hpa(
                "tuned",
                json!({"behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}}),
            ),
        )
        .await,
    );
    assert_eq!(
        tuned["spec"]["behavior"],
        json!({
            "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
                {"type": "Pods", "value": 4, "periodSeconds": 15},
                {"type": "Percent", "value": 100, "periodSeconds": 15}]},
            "scaleDown": {"stabilizationWindowSeconds": 60, "selectPolicy": "Max", "policies": [
                {"type": "Percent", "value": 100, "periodSeconds": 15}]}
        })
    );
}

// Upstream networking/v1 `SetDefaults_NetworkPolicy` and `SetDefaults_NetworkPolicyPort`,
// core/v1 `SetDefaults_Secret` with the conversion of `stringData` into `data`, and
// `SetDefaults_Namespace` (the `kubernetes.io/metadata.name` label).
#[tokio::test]
async fn network_policies_secrets_and_namespaces_get_their_defaults() {
    let emu = start().await;
    let policies: Api<NetworkPolicy> = Api::default_namespaced(emu.client());
    let policy = |name: &str, spec: Value| -> NetworkPolicy {
        object(json!({"metadata": {"name": name}, "spec": spec}))
    };
    let ingress_only = create(
        &policies,
        &policy(
            "in",
            json!({"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}]}),
        ),
    )
    .await;
    let spec = as_json(&ingress_only)["spec"].clone();
    assert_eq!(spec["policyTypes"], json!(["Ingress"]));
    assert_eq!(spec["ingress"][0]["ports"][0]["protocol"], "TCP");
    let both = create(
        &policies,
        &policy("both", json!({"podSelector": {}, "egress": [{}]})),
    )
    .await;
    assert_eq!(
        as_json(&both)["spec"]["policyTypes"],
        json!(["Ingress", "Egress"])
    );

    let secrets: Api<Secret> = Api::default_namespaced(emu.client());
    let secret: Secret = object(
        json!({"metadata": {"name": "db"}, "data": {"user": "YWRtaW4="},
        "stringData": {"password": "hunter2", "user": "root"}}),
    );
    let stored = as_json(&create(&secrets, &secret).await);
    assert_eq!(stored["type"], "Opaque");
    assert_eq!(
        stored["data"],
        json!({"password": "aHVudGVyMg==", "user": "cm9vdA=="})
    );
    assert!(stored.get("stringData").is_none());

    let namespaces: Api<Namespace> = Api::all(emu.client());
    let team = create(&namespaces, &object(json!({"metadata": {"name": "team"}}))).await;
    assert_eq!(
        team.labels()
            .get("kubernetes.io/metadata.name")
            .map(String::as_str),
        Some("team")
    );
}
