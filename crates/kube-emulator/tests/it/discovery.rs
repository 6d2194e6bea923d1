//! Discovery: built-in kinds and CRD-registered kinds appear in `/api`, `/apis` and the
//! group-version resource lists with the scope, verbs, short names and categories of the
//! real API server, so that `kube::discovery` and kubectl resolve them.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::DeleteParams;
use kube::discovery::{Discovery, Scope};
use kube::{Api, ResourceExt};
use kube_emulator::{Emulator, EmulatorOptions};

use crate::support::create;

fn widget_crd() -> CustomResourceDefinition {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.io"},
        "spec": {
            "group": "example.io",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wg"], "categories": ["toys"]},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}
            }]
        }
    }))
    .unwrap()
}

// Upstream: the built-in groups apps/v1, autoscaling/v2, policy/v1, networking.k8s.io/v1,
// coordination.k8s.io/v1, events.k8s.io/v1, apiextensions.k8s.io/v1 and core v1, with
// the right scope for each kind.
#[tokio::test]
async fn discovery_lists_the_built_in_kinds_with_their_scope() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let discovery = Discovery::new(emu.client()).run().await.unwrap();
    let find = |group: &str, kind: &str| {
        discovery
            .groups()
            .flat_map(kube::discovery::ApiGroup::recommended_resources)
            .find(|(ar, _)| ar.group == group && ar.kind == kind)
            .unwrap_or_else(|| panic!("{group}/{kind} not discovered"))
    };
    for (group, kind, namespaced) in [
        ("apps", "Deployment", true),
        ("", "Service", true),
        ("", "Secret", true),
        ("", "Namespace", false),
        ("autoscaling", "HorizontalPodAutoscaler", true),
        ("policy", "PodDisruptionBudget", true),
        ("networking.k8s.io", "NetworkPolicy", true),
        ("networking.k8s.io", "Ingress", true),
        ("coordination.k8s.io", "Lease", true),
        ("events.k8s.io", "Event", true),
        ("apiextensions.k8s.io", "CustomResourceDefinition", false),
    ] {
        let (_, caps) = find(group, kind);
        assert_eq!(caps.scope == Scope::Namespaced, namespaced, "{kind}");
    }
    let (_, deployments) = find("apps", "Deployment");
    assert!(
        deployments
            .subresources
            .iter()
            .any(|(ar, _)| ar.plural == "deployments/status" || ar.plural == "status")
    );
    let version = emu.client().apiserver_version().await.unwrap();
    assert_eq!(version.major, "1");
}

// Upstream (apiextensions-apiserver): a created CRD gets NamesAccepted and Established
// conditions, and its kind is served with plural, singular, short names, categories and a
// status subresource; deleting the CRD removes the kind.
#[tokio::test]
async fn a_created_crd_is_established_and_discoverable_until_deleted() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(emu.client());
    create(&crds, &widget_crd()).await;
    let stored = crds.get("widgets.example.io").await.unwrap();
    let conditions = stored.status.clone().unwrap().conditions.unwrap();
    for wanted in ["Established", "NamesAccepted"] {
        assert!(
            conditions
                .iter()
                .any(|c| c.type_ == wanted && c.status == "True"),
            "{wanted}"
        );
    }

    let list = emu
        .client()
        .list_api_group_resources("example.io/v1")
        .await
        .unwrap();
    let widgets = list.resources.iter().find(|r| r.name == "widgets").unwrap();
    assert!(widgets.namespaced);
    assert_eq!(widgets.singular_name, "widget");
    assert_eq!(widgets.short_names.as_deref(), Some(&["wg".to_owned()][..]));
    assert_eq!(
        widgets.categories.as_deref(),
        Some(&["toys".to_owned()][..])
    );
    assert!(widgets.verbs.contains(&"watch".to_owned()));
    assert!(list.resources.iter().any(|r| r.name == "widgets/status"));
    let groups = emu.client().list_api_groups().await.unwrap();
    assert!(groups.groups.iter().any(|g| g.name == "example.io"));

    crds.delete(&stored.name_any(), &DeleteParams::default())
        .await
        .unwrap();
    assert!(
        emu.client()
            .list_api_group_resources("example.io/v1")
            .await
            .is_err()
    );
}
