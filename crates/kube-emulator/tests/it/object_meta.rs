//! `metadata` validation on every write of every kind, as apimachinery's
//! `ValidateObjectMeta` and the registry strategies' name functions do it: 422 Invalid
//! with `details.causes[].field` naming the metadata field and the real message.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::support::{
    causes, config_map, create, deployment_json, dynamic, invalid, object, refused, start,
};

fn service(name: &str) -> Service {
    object(json!({"metadata": {"name": name}, "spec": {"ports": [{"port": 80}]}}))
}

fn secret_labelled(name: &str, key: &str, value: &str) -> Secret {
    let mut secret = Secret::default();
    secret.metadata.name = Some(name.to_owned());
    secret.metadata.labels = Some(BTreeMap::from([(key.to_owned(), value.to_owned())]));
    secret
}

// Upstream `ValidateServiceName` = `NameIsDNS1035Label`: a Service name starts with a
// letter and has at most 63 characters (it becomes a DNS label).
#[tokio::test]
async fn a_service_name_is_a_dns_1035_label() {
    let emu = start().await;
    let api: Api<Service> = Api::default_namespaced(emu.client());
    let status = refused(&api, &service("1web")).await;
    assert_eq!(
        status.message,
        "Service \"1web\" is invalid: metadata.name: Invalid value: \"1web\": a DNS-1035 label must consist \
         of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an \
         alphanumeric character (e.g. 'my-name', or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
    );
    let details = status.details.clone().unwrap();
    assert_eq!(
        (
            details.name.as_str(),
            details.kind.as_str(),
            details.group.as_str()
        ),
        ("1web", "Service", "")
    );
    assert_eq!(causes(&status)[0].0, "metadata.name");
    assert_eq!(causes(&status)[0].1, "FieldValueInvalid");

    let long = "a".repeat(64);
    let status = refused(&api, &service(&long)).await;
    assert!(
        status.message.contains("must be no more than 63 bytes"),
        "{}",
        status.message
    );
    create(&api, &service(&"a".repeat(63))).await;
}

// Upstream `NameIsDNSSubdomain` (ConfigMap, Secret, Deployment, … custom resources): up to
// 253 characters, dots allowed, a leading digit allowed.
#[tokio::test]
async fn most_names_are_dns_1123_subdomains_of_at_most_253_characters() {
    let emu = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(emu.client());
    for name in ["1web", "a.b-c", &"a".repeat(253)] {
        create(&api, &config_map(name)).await;
    }
    for (name, message) in [
        (&"a".repeat(254) as &str, "must be no more than 253 bytes"),
        ("Web", "a lowercase RFC 1123 subdomain must consist of"),
        ("a..b", "a lowercase RFC 1123 subdomain must consist of"),
    ] {
        let status = refused(&api, &config_map(name)).await;
        assert!(
            status.message.contains(message),
            "{name}: {}",
            status.message
        );
        assert_eq!(causes(&status)[0].0, "metadata.name");
    }
}

// Upstream `ValidateNamespaceName` = `NameIsDNSLabel`; `IsDNS1123Label` says "must not
// contain dots" for a valid subdomain.
#[tokio::test]
async fn a_namespace_name_is_a_dns_1123_label() {
    let emu = start().await;
    let api: Api<Namespace> = Api::all(emu.client());
    let ns: Namespace = object(json!({"metadata": {"name": "team.a"}}));
    let status = refused(&api, &ns).await;
    assert_eq!(
        status.message,
        "Namespace \"team.a\" is invalid: metadata.name: Invalid value: \"team.a\": must not contain dots"
    );
}

// Upstream: the PodDisruptionBudget strategy validates no name format, only the generic
// `ValidatePathSegmentName` (no '/', no '%', not '.' or '..').
#[tokio::test]
async fn a_pod_disruption_budget_name_is_only_a_path_segment() {
    let emu = start().await;
    let api: Api<PodDisruptionBudget> = Api::default_namespaced(emu.client());
    let pdb = |name: &str| -> PodDisruptionBudget {
        object(json!({"metadata": {"name": name}, "spec": {"minAvailable": 1}}))
    };
    create(&api, &pdb("Web_1")).await;
    let status = refused(&api, &pdb("a%b")).await;
    assert!(
        status
            .message
            .ends_with("metadata.name: Invalid value: \"a%b\": may not contain '%'"),
        "{}",
        status.message
    );
}

// Upstream (apiextensions validation): a CRD's name must be `<plural>.<group>`.
#[tokio::test]
async fn a_crd_name_is_its_plural_dot_group() {
    let emu = start().await;
    let crd: CustomResourceDefinition = object(json!({
        "metadata": {"name": "gadgets.example.io"},
        "spec": {"group": "example.io", "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object"}}}]}
    }));
    let api: Api<CustomResourceDefinition> = Api::all(emu.client());
    let status = refused(&api, &crd).await;
    assert!(status.message.ends_with("metadata.name: Invalid value: \"gadgets.example.io\": must be spec.names.plural+\".\"+spec.group"), "{}", status.message);
}

// Upstream `ValidateObjectMetaAccessor`: a `generateName` is checked in the kind's format
// with its trailing '-' allowed (`maskTrailingDash`).
#[tokio::test]
async fn a_generate_name_is_checked_in_the_kind_format() {
    let emu = start().await;
    let api: Api<Service> = Api::default_namespaced(emu.client());
    let generated = |prefix: &str| -> Service {
        object(json!({"metadata": {"generateName": prefix}, "spec": {"ports": [{"port": 80}]}}))
    };
    let created = create(&api, &generated("web-")).await;
    assert!(created.metadata.name.unwrap().starts_with("web-"));
    let status = refused(&api, &generated("9web-")).await;
    assert_eq!(causes(&status)[0].0, "metadata.generateName");
}

// Upstream `ValidateLabels` (`IsQualifiedName` keys, `IsValidLabelValue` values), on create,
// update, patch and apply alike; the field is `metadata.labels`. A 64-character value is
// what a real server refuses for a long object name copied into a label.
#[tokio::test]
async fn labels_have_qualified_keys_and_values_of_at_most_63_characters() {
    let emu = start().await;
    let api: Api<Secret> = Api::default_namespaced(emu.client());
    let long = "a".repeat(64);
    let status = refused(
        &api,
        &secret_labelled("db-connection", "app.kubernetes.io/instance", &long),
    )
    .await;
    assert_eq!(
        status.message,
        format!(
            "Secret \"db-connection\" is invalid: metadata.labels: Invalid value: \"{long}\": must be no more than 63 bytes"
        )
    );
    assert_eq!(
        causes(&status),
        vec![(
            "metadata.labels".to_owned(),
            "FieldValueInvalid".to_owned(),
            format!("Invalid value: \"{long}\": must be no more than 63 bytes")
        )]
    );
    for (key, value, message) in [
        (
            "app",
            "has space",
            "a valid label must be an empty string or consist of alphanumeric characters",
        ),
        ("app", "-web", "a valid label must be an empty string"),
        (
            "a/b/c",
            "x",
            "a valid label key must consist of alphanumeric characters",
        ),
        (
            "Example.com/x",
            "x",
            "prefix part a lowercase RFC 1123 subdomain",
        ),
        ("/x", "x", "prefix part must be non-empty"),
        (&long, "x", "name part must be no more than 63 bytes"),
    ] {
        let status = refused(&api, &secret_labelled("s", key, value)).await;
        assert!(
            status.message.contains(message),
            "{key}={value}: {}",
            status.message
        );
    }
    for (key, value) in [
        ("example.com/My_Name.1", &"a".repeat(63) as &str),
        ("app", ""),
    ] {
        create(
            &api,
            &secret_labelled(&format!("ok{}", value.len()), key, value),
        )
        .await;
    }

    let merge = Patch::Merge(json!({"metadata": {"labels": {"tier": "not ok"}}}));
    let status = invalid(api.patch("ok63", &PatchParams::default(), &merge).await);
    assert_eq!(causes(&status)[0].0, "metadata.labels");
    let mut replaced = api.get("ok63").await.unwrap();
    replaced.metadata.labels = Some(BTreeMap::from([("tier".to_owned(), long.clone())]));
    invalid(api.replace("ok63", &PostParams::default(), &replaced).await);
    let applied = Patch::Apply(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "applied", "labels": {"tier": long}}}));
    invalid(
        api.patch("applied", &PatchParams::apply("tiered"), &applied)
            .await,
    );
    assert!(
        api.get_opt("applied").await.unwrap().is_none(),
        "a refused apply creates nothing"
    );
    let stored = api.get("ok63").await.unwrap();
    assert_eq!(
        stored.metadata.labels.unwrap().get("tier"),
        None,
        "a refused write stores nothing"
    );
}

// Upstream `ValidateAnnotations`: keys are qualified names regardless of case; keys and
// values together at most `TotalAnnotationSizeLimitB` = 256 KiB, else `Too long`.
#[tokio::test]
async fn annotations_hold_at_most_256_kib_in_total() {
    let emu = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(emu.client());
    let annotated = |name: &str, key: &str, size: usize| -> ConfigMap {
        let mut cm = config_map(name);
        cm.metadata.annotations = Some(BTreeMap::from([(
            key.to_owned(),
            "x".repeat(size - key.len()),
        )]));
        cm
    };
    create(&api, &annotated("full", "Example.com/Note", 256 * 1024)).await;
    let status = refused(&api, &annotated("over", "note", 256 * 1024 + 1)).await;
    assert_eq!(
        status.message,
        "ConfigMap \"over\" is invalid: metadata.annotations: Too long: must have at most 262144 bytes"
    );
    assert_eq!(causes(&status)[0].1, "FieldValueTooLong");
    let status = refused(&api, &annotated("key", "a b", 10)).await;
    assert_eq!(causes(&status)[0].0, "metadata.annotations");
}

// Upstream `ValidateOwnerReferences`: "Only one reference can have Controller set to
// true", and each reference names an apiVersion, kind, name and uid.
#[tokio::test]
async fn at_most_one_owner_reference_is_the_controller() {
    let emu = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(emu.client());
    let owned = |name: &str, refs: serde_json::Value| -> ConfigMap {
        object(json!({"metadata": {"name": name, "ownerReferences": refs}}))
    };
    let reference = |name: &str, uid: &str, controller: bool| json!({"apiVersion": "tiered.io/v1alpha1", "kind": "TieredApp", "name": name, "uid": uid, "controller": controller});
    create(
        &api,
        &owned(
            "one",
            json!([reference("a", "1", true), reference("b", "2", false)]),
        ),
    )
    .await;
    let status = refused(
        &api,
        &owned(
            "two",
            json!([reference("a", "1", true), reference("b", "2", true)]),
        ),
    )
    .await;
    assert_eq!(causes(&status)[0].0, "metadata.ownerReferences");
    assert!(
        status.message.ends_with(
            "Only one reference can have Controller set to true. Found \"true\" in references for TieredApp/a and TieredApp/b"
        ),
        "{}",
        status.message
    );
    let status = refused(&api, &owned("nouid", json!([reference("a", "", false)]))).await;
    assert_eq!(causes(&status)[0].0, "metadata.ownerReferences.uid");
    let patch = Patch::Merge(
        json!({"metadata": {"ownerReferences": [reference("a", "1", true), reference("c", "3", true)]}}),
    );
    invalid(api.patch("one", &PatchParams::default(), &patch).await);
}

// Upstream `ValidateFinalizers`: each finalizer is a qualified name.
#[tokio::test]
async fn finalizers_are_qualified_names() {
    let emu = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(emu.client());
    let status = refused(
        &api,
        &object(json!({"metadata": {"name": "f", "finalizers": ["tiered.io/cleanup", "not ok"]}})),
    )
    .await;
    assert_eq!(causes(&status).len(), 1);
    assert_eq!(causes(&status)[0].0, "metadata.finalizers");
}

/// One kind the operator writes: group, version, kind, plural, a valid body without
/// `metadata`, the names its strategy accepts and those it refuses.
type NamedKind = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Value,
    &'static [&'static str],
    &'static [&'static str],
);

fn kinds_the_operator_writes() -> Vec<NamedKind> {
    const SUBDOMAIN: (&[&str], &[&str]) = (&["a.b", "1a"], &["A", "a_b"]);
    const DNS_1035: (&[&str], &[&str]) = (&["a-b"], &["a.b", "1a"]);
    const PATH_SEGMENT: (&[&str], &[&str]) = (&["a.b", "A_b"], &["a/b"]);
    let event = json!({"eventTime": "2025-01-01T00:00:00.000000Z", "regarding": {"namespace": "default"},
        "reportingController": "tiered.io/operator", "reportingInstance": "i", "action": "Apply",
        "reason": "Updated", "type": "Normal"});
    let target = json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"});
    let backend = json!({"service": {"name": "web", "port": {"number": 80}}});
    [
        ("", "v1", "ConfigMap", "configmaps", json!({}), SUBDOMAIN),
        ("", "v1", "Secret", "secrets", json!({}), SUBDOMAIN),
        (
            "",
            "v1",
            "ServiceAccount",
            "serviceaccounts",
            json!({}),
            SUBDOMAIN,
        ),
        (
            "coordination.k8s.io",
            "v1",
            "Lease",
            "leases",
            json!({}),
            SUBDOMAIN,
        ),
        (
            "apps",
            "v1",
            "Deployment",
            "deployments",
            deployment_json("x", &json!({})),
            SUBDOMAIN,
        ),
        (
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            "horizontalpodautoscalers",
            json!({"spec": {"maxReplicas": 2, "scaleTargetRef": target}}),
            SUBDOMAIN,
        ),
        (
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            "networkpolicies",
            json!({"spec": {"podSelector": {}}}),
            SUBDOMAIN,
        ),
        (
            "networking.k8s.io",
            "v1",
            "Ingress",
            "ingresses",
            json!({"spec": {"defaultBackend": backend}}),
            SUBDOMAIN,
        ),
        ("events.k8s.io", "v1", "Event", "events", event, SUBDOMAIN),
        (
            "",
            "v1",
            "Service",
            "services",
            json!({"spec": {"ports": [{"port": 80}]}}),
            DNS_1035,
        ),
        (
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            json!({"spec": {"minAvailable": 1}}),
            PATH_SEGMENT,
        ),
        (
            "",
            "v1",
            "Event",
            "events",
            json!({"involvedObject": {"namespace": "default"}}),
            PATH_SEGMENT,
        ),
    ]
    .into_iter()
    .map(
        |(group, version, kind, plural, body, (accepted, refused))| {
            (group, version, kind, plural, body, accepted, refused)
        },
    )
    .collect()
}

// Upstream: each registry strategy picks its `ValidateNameFunc` — `NameIsDNSSubdomain`
// for ConfigMap, Secret, ServiceAccount, Lease, Deployment, HPA, NetworkPolicy, Ingress
// and events.k8s.io Event; `NameIsDNS1035Label` for Service; none (only the path-segment
// rule) for PodDisruptionBudget and core/v1 Event.
#[tokio::test]
async fn every_kind_the_operator_writes_has_its_upstream_name_rule() {
    let emu = start().await;
    for (group, version, kind, plural, body, accepted, refused_names) in kinds_the_operator_writes()
    {
        let api = dynamic(&emu, group, version, kind, plural);
        let api_version = if group.is_empty() {
            version.to_owned()
        } else {
            format!("{group}/{version}")
        };
        let named = |name: &str| -> DynamicObject {
            let mut object = body.clone();
            object["apiVersion"] = json!(api_version);
            object["kind"] = json!(kind);
            object["metadata"] = json!({"name": name});
            crate::support::object(object)
        };
        // Both Event APIs store into one resource (a name taken through one is taken
        // through the other): each accepted object goes before the next kind.
        for name in accepted {
            create(&api, &named(name)).await;
            api.delete(name, &DeleteParams::default()).await.unwrap();
        }
        for name in refused_names {
            let status = refused(&api, &named(name)).await;
            assert_eq!(
                causes(&status)[0].0,
                "metadata.name",
                "{kind} {name}: {}",
                status.message
            );
        }
    }
}
