//! Tests of the patch engines; each names the upstream behaviour it pins.

use serde_json::{Value, json};

use super::{
    ApplyConflict, ApplyOptions, PatchError, json, record_update, server_side_apply, strategic,
};

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "replicas": 1,
            "template": {"spec": {"containers": [
                {"name": "web", "image": "web:1", "args": ["--a"],
                 "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                {"name": "sidecar", "image": "proxy:1"}
            ]}}
        }
    })
}

fn options<'a>(manager: &'a str, gvk: &'a str) -> ApplyOptions<'a> {
    ApplyOptions {
        manager,
        force: false,
        subresource: None,
        gvk,
        schema: None,
    }
}

const DEPLOY: &str = "apps/v1/Deployment";

fn config(labels: &Value, replicas: Option<i64>) -> Value {
    let mut config = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": labels},
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:1"}]}}}
    });
    if let Some(replicas) = replicas {
        config["spec"]["replicas"] = json!(replicas);
    }
    config
}

/// The Deployment of [`config`] (`labels`, `replicas`) applied by `manager` over
/// `live`, which must succeed.
fn apply_deployment(
    manager: &str,
    live: Option<&Value>,
    labels: &Value,
    replicas: Option<i64>,
) -> Value {
    server_side_apply(live, &config(labels, replicas), &options(manager, DEPLOY)).unwrap()
}

fn entry<'v>(object: &'v Value, manager: &str, operation: &str) -> Option<&'v Value> {
    object["metadata"]["managedFields"]
        .as_array()?
        .iter()
        .find(|e| e["manager"] == manager && e["operation"] == operation)
}

// upstream: evanphx/json-patch treats a missing member as null in `test`, so kube-rs'
// finalizer helper can test `/metadata/finalizers == null` on an object without finalizers.
#[test]
fn json_patch_test_on_an_absent_path_compares_with_null() {
    let patch = json!([
        {"op": "test", "path": "/metadata/finalizers", "value": null},
        {"op": "add", "path": "/metadata/finalizers", "value": ["tiered.io/cleanup"]}
    ]);
    let out = json(&deployment(), &patch).unwrap();
    assert_eq!(out["metadata"]["finalizers"], json!(["tiered.io/cleanup"]));
}

// upstream: a failed `test` aborts the whole patch with 422 and nothing is applied.
#[test]
fn json_patch_failed_test_is_reported_as_test_failed() {
    let absent_but_expected =
        json!([{"op": "test", "path": "/metadata/finalizers", "value": ["x"]}]);
    assert!(matches!(
        json(&deployment(), &absent_but_expected),
        Err(PatchError::TestFailed(_))
    ));
    let wrong_value = json!([
        {"op": "replace", "path": "/spec/replicas", "value": 3},
        {"op": "test", "path": "/metadata/name", "value": "other"}
    ]);
    assert!(matches!(
        json(&deployment(), &wrong_value),
        Err(PatchError::TestFailed(_))
    ));
}

// upstream: undecodable patches (400) and operations on missing paths (422) are errors.
#[test]
fn json_patch_rejects_malformed_documents_and_missing_paths() {
    assert!(matches!(
        json(&deployment(), &json!({"op": "add"})),
        Err(PatchError::Invalid(_))
    ));
    let remove_missing = json!([{"op": "remove", "path": "/metadata/labels/app"}]);
    assert!(matches!(
        json(&deployment(), &remove_missing),
        Err(PatchError::Invalid(_))
    ));
}

// upstream: PodSpec.containers and Container.env have patchMergeKey "name".
#[test]
fn strategic_merge_matches_containers_and_env_by_name() {
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "web:2", "env": [{"name": "B", "value": "20"}, {"name": "C", "value": "3"}]},
        {"name": "new", "image": "new:1"}
    ]}}}});
    let out = strategic(&deployment(), &patch, DEPLOY).unwrap();
    let containers = &out["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers.as_array().unwrap().len(), 3);
    assert_eq!(containers[0]["image"], "web:2");
    assert_eq!(containers[0]["args"], json!(["--a"]));
    assert_eq!(
        containers[0]["env"],
        json!([{"name": "A", "value": "1"}, {"name": "B", "value": "20"}, {"name": "C", "value": "3"}])
    );
    assert_eq!(containers[1]["name"], "sidecar");
    assert_eq!(containers[2]["name"], "new");
}

// upstream: `$patch: delete` removes the list item with that merge key (and a map).
#[test]
fn strategic_merge_patch_delete_removes_an_item_or_a_map() {
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "$patch": "delete"},
        {"name": "web", "env": [{"name": "A", "$patch": "delete"}]}
    ]}}, "strategy": {"$patch": "delete"}}});
    let mut current = deployment();
    current["spec"]["strategy"] = json!({"type": "Recreate"});
    let out = strategic(&current, &patch, DEPLOY).unwrap();
    let containers = &out["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers.as_array().unwrap().len(), 1);
    assert_eq!(containers[0]["env"], json!([{"name": "B", "value": "2"}]));
    assert!(out["spec"].get("strategy").is_none());
}

// upstream: `null` deletes a key, lists without a strategy (args, tolerations) are
// replaced, metadata.finalizers has patchStrategy "merge" (a set of strings), and
// `$patch: replace` as a list element replaces the whole list.
#[test]
fn strategic_merge_replaces_plain_lists_and_merges_finalizers() {
    let mut current = deployment();
    current["metadata"]["finalizers"] = json!(["a"]);
    let patch = json!({
        "metadata": {"finalizers": ["b", "a"]},
        "spec": {"replicas": null, "template": {"spec": {"containers": [{"name": "web", "args": ["--b"]}]}}}
    });
    let out = strategic(&current, &patch, DEPLOY).unwrap();
    assert_eq!(out["metadata"]["finalizers"], json!(["a", "b"]));
    assert!(out["spec"].get("replicas").is_none());
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"][0]["args"],
        json!(["--b"])
    );

    let replace = json!({"spec": {"template": {"spec": {"containers": [
        {"$patch": "replace"}, {"name": "only", "image": "o:1"}
    ]}}}});
    let out = strategic(&current, &replace, DEPLOY).unwrap();
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"],
        json!([{"name": "only", "image": "o:1"}])
    );
}

// upstream: ServiceSpec.ports has patchMergeKey "port".
#[test]
fn strategic_merge_matches_service_ports_by_port() {
    let service = json!({"apiVersion": "v1", "kind": "Service", "spec": {"ports": [
        {"port": 80, "targetPort": 8080}, {"port": 443, "targetPort": 8443}
    ]}});
    let patch = json!({"spec": {"ports": [{"port": 443, "targetPort": 9443}]}});
    let out = strategic(&service, &patch, "v1/Service").unwrap();
    assert_eq!(
        out["spec"]["ports"],
        json!([{"port": 80, "targetPort": 8080}, {"port": 443, "targetPort": 9443}])
    );
}

// upstream: custom resources have no patch strategies; the server answers 415.
#[test]
fn strategic_merge_is_refused_for_custom_resources() {
    let err = strategic(
        &json!({}),
        &json!({"spec": {}}),
        "tiered.io/v1alpha1/TieredApp",
    )
    .unwrap_err();
    assert!(
        matches!(err, PatchError::Invalid(ref m) if m.contains("custom resources")),
        "{err}"
    );
}

// upstream: SSA creates an absent object and records the manager's fields in FieldsV1,
// list items as `k:{...}` with a `.` member, without name/namespace (strip set).
#[test]
fn server_side_apply_creates_the_object_with_its_managed_fields() {
    let out = apply_deployment("tiered", None, &json!({"app": "web"}), Some(2));
    assert_eq!(out["spec"]["replicas"], 2);
    let entries = out["metadata"]["managedFields"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(
        (e["manager"].as_str(), e["operation"].as_str()),
        (Some("tiered"), Some("Apply"))
    );
    assert_eq!(
        (e["apiVersion"].as_str(), e["fieldsType"].as_str()),
        (Some("apps/v1"), Some("FieldsV1"))
    );
    assert!(e.get("subresource").is_none());
    let time = e["time"].as_str().unwrap();
    assert!(time.len() == 20 && time.ends_with('Z'), "{time}");
    assert_eq!(
        e["fieldsV1"],
        json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}
            }}}}
        })
    );
}

// upstream (KEP-555): a field the manager applied before and no longer applies is removed.
#[test]
fn server_side_apply_removes_fields_the_manager_stops_applying() {
    let first = apply_deployment(
        "tiered",
        None,
        &json!({"app": "web", "tier": "front"}),
        Some(2),
    );
    let second = apply_deployment("tiered", Some(&first), &json!({"app": "web"}), None);
    assert_eq!(second["metadata"]["labels"], json!({"app": "web"}));
    assert!(second["spec"].get("replicas").is_none());
    let fields = &entry(&second, "tiered", "Apply").unwrap()["fieldsV1"];
    assert!(fields["f:spec"].get("f:replicas").is_none());
}

// upstream (KEP-555): a field that another manager also owns survives when one stops.
#[test]
fn server_side_apply_keeps_fields_another_manager_still_owns() {
    let a = apply_deployment("a", None, &json!({"app": "web", "shared": "x"}), None);
    let b = apply_deployment("b", Some(&a), &json!({"shared": "x"}), None);
    let a_again = apply_deployment("a", Some(&b), &json!({"app": "web"}), None);
    assert_eq!(
        a_again["metadata"]["labels"],
        json!({"app": "web", "shared": "x"})
    );
    let b_fields = &entry(&a_again, "b", "Apply").unwrap()["fieldsV1"];
    assert_eq!(b_fields["f:metadata"]["f:labels"], json!({"f:shared": {}}));
}

// upstream: changing a field another manager owns is a 409 conflict naming the manager
// and the field; with force=true the applier takes the field over.
#[test]
fn server_side_apply_conflicts_unless_forced() {
    let a = apply_deployment("a", None, &json!({"app": "web"}), Some(2));
    let err = server_side_apply(
        Some(&a),
        &config(&json!({}), Some(3)),
        &options("b", DEPLOY),
    )
    .unwrap_err();
    let PatchError::Conflict(conflicts) = err else {
        panic!("expected a conflict, got {err}")
    };
    assert_eq!(
        conflicts,
        vec![ApplyConflict {
            manager: "a".into(),
            field: ".spec.replicas".into()
        }]
    );

    let forced = ApplyOptions {
        force: true,
        ..options("b", DEPLOY)
    };
    let b = server_side_apply(Some(&a), &config(&json!({}), Some(3)), &forced).unwrap();
    assert_eq!(b["spec"]["replicas"], 3);
    assert!(
        entry(&b, "a", "Apply").unwrap()["fieldsV1"]["f:spec"]
            .get("f:replicas")
            .is_none()
    );
    assert!(
        entry(&b, "b", "Apply").unwrap()["fieldsV1"]["f:spec"]
            .get("f:replicas")
            .is_some()
    );
}

// upstream: re-applying the same configuration is a no-op (kube-apiserver keeps the
// object, and managedFields timestamps do not move when the field set is unchanged).
#[test]
fn server_side_apply_twice_yields_a_byte_identical_object() {
    let applied = config(&json!({"app": "web"}), Some(2));
    let mut first = server_side_apply(None, &applied, &options("tiered", DEPLOY)).unwrap();
    first["metadata"]["managedFields"][0]["time"] = json!("2000-01-01T00:00:00Z");
    first["metadata"]["resourceVersion"] = json!("7");
    let second = server_side_apply(Some(&first), &applied, &options("tiered", DEPLOY)).unwrap();
    assert_eq!(
        serde_json::to_string(&first).unwrap(),
        serde_json::to_string(&second).unwrap()
    );
}

// upstream: an Update gives its manager the fields it changed and takes them from the
// others; a later apply of the old value then conflicts with that manager.
#[test]
fn record_update_moves_ownership_to_the_updating_manager() {
    let applied = apply_deployment("tiered", None, &json!({"app": "web"}), Some(2));
    let mut scaled = applied.clone();
    scaled["spec"]["replicas"] = json!(5);
    let scaled = record_update(Some(&applied), scaled, "kubectl", None);
    let kubectl = entry(&scaled, "kubectl", "Update").unwrap();
    assert_eq!(kubectl["fieldsV1"], json!({"f:spec": {"f:replicas": {}}}));
    assert!(
        entry(&scaled, "tiered", "Apply").unwrap()["fieldsV1"]["f:spec"]
            .get("f:replicas")
            .is_none()
    );

    let err = server_side_apply(
        Some(&scaled),
        &config(&json!({"app": "web"}), Some(2)),
        &options("tiered", DEPLOY),
    )
    .unwrap_err();
    assert!(
        matches!(err, PatchError::Conflict(ref c) if c[0].manager == "kubectl"),
        "{err:?}"
    );
}

// upstream: managers whose field set becomes empty lose their entry; an unchanged
// write does not create an entry for the writer.
#[test]
fn record_update_drops_entries_left_without_fields() {
    let a = server_side_apply(None, &config(&json!({}), Some(2)), &options("a", DEPLOY)).unwrap();
    let mut b = a.clone();
    b["spec"]["replicas"] = json!(4);
    b["spec"]["template"]["spec"]["containers"][0]["image"] = json!("web:2");
    let b = record_update(Some(&a), b, "b", None);
    assert!(
        entry(&b, "a", "Apply")
            .is_some_and(|e| e["fieldsV1"]["f:spec"].get("f:replicas").is_none())
    );
    let mut c = b.clone();
    c["spec"]["template"]["spec"]["containers"] = json!([{"name": "web", "image": "web:3"}]);
    c["spec"]["replicas"] = json!(1);
    let c = record_update(Some(&b), c, "c", None);
    assert!(entry(&c, "b", "Update").is_none(), "{c:#}");
    let unchanged = record_update(Some(&c), c.clone(), "d", None);
    assert!(entry(&unchanged, "d", "Update").is_none());
}

// upstream: lists with x-kubernetes-list-type=map merge by x-kubernetes-list-map-keys, so
// two appliers can each own their own item of one list.
#[test]
fn server_side_apply_merges_crd_lists_by_schema_map_keys() {
    let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "tiers": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                  "items": {"type": "object", "properties": {"name": {"type": "string"}, "image": {"type": "string"}}}}
    }}}});
    let gvk = "tiered.io/v1alpha1/TieredApp";
    let app = |tiers: Value| {
        json!({"apiVersion": "tiered.io/v1alpha1", "kind": "TieredApp",
        "metadata": {"name": "n"}, "spec": {"tiers": tiers}})
    };
    let opts = |manager| ApplyOptions {
        schema: Some(&schema),
        ..options(manager, gvk)
    };
    let a = server_side_apply(
        None,
        &app(json!([{"name": "web", "image": "w:1"}])),
        &opts("a"),
    )
    .unwrap();
    let b = server_side_apply(
        Some(&a),
        &app(json!([{"name": "api", "image": "a:1"}])),
        &opts("b"),
    )
    .unwrap();
    assert_eq!(
        b["spec"]["tiers"],
        json!([{"name": "web", "image": "w:1"}, {"name": "api", "image": "a:1"}])
    );
    let b_fields = &entry(&b, "b", "Apply").unwrap()["fieldsV1"];
    assert!(
        b_fields["f:spec"]["f:tiers"]
            .get("k:{\"name\":\"api\"}")
            .is_some(),
        "{b_fields}"
    );
    // `a` stops applying its tier: only that item goes.
    let a2 = server_side_apply(Some(&b), &app(json!([])), &opts("a")).unwrap();
    assert_eq!(
        a2["spec"]["tiers"],
        json!([{"name": "api", "image": "a:1"}])
    );
}

// upstream: writes to the status subresource are recorded with `subresource: status`.
#[test]
fn status_applies_are_recorded_with_their_subresource() {
    let live = apply_deployment("tiered", None, &json!({}), Some(1));
    let status = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "status": {"conditions": [{"type": "Available", "status": "True"}]}});
    let opts = ApplyOptions {
        subresource: Some("status"),
        ..options("tiered", DEPLOY)
    };
    let out = server_side_apply(Some(&live), &status, &opts).unwrap();
    let entries = out["metadata"]["managedFields"].as_array().unwrap();
    let status_entry = entries
        .iter()
        .find(|e| e["subresource"] == "status")
        .unwrap();
    assert!(
        status_entry["fieldsV1"]["f:status"]["f:conditions"]
            .get("k:{\"type\":\"Available\"}")
            .is_some()
    );
    assert_eq!(entries.len(), 2);
    assert_eq!(out["spec"]["replicas"], 1);
}

// upstream: the applier's timestamp moves when the apply changed the object, even if the
// set of fields it owns stayed the same.
#[test]
fn server_side_apply_stamps_the_entry_when_values_change() {
    let mut first = apply_deployment("tiered", None, &json!({"app": "web"}), Some(2));
    first["metadata"]["managedFields"][0]["time"] = json!("2000-01-01T00:00:00Z");
    let second = apply_deployment("tiered", Some(&first), &json!({"app": "web"}), Some(3));
    assert_eq!(second["spec"]["replicas"], 3);
    assert_ne!(
        second["metadata"]["managedFields"][0]["time"],
        "2000-01-01T00:00:00Z"
    );
}

// upstream: list-map keys with several fields (ServiceSpec.ports: port+protocol) are
// written as one `k:` element with the key fields sorted by name.
#[test]
fn server_side_apply_writes_multi_field_keys_sorted() {
    let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"ports": [{"protocol": "TCP", "port": 80, "targetPort": 8080}]}});
    let out = server_side_apply(None, &service, &options("tiered", "v1/Service")).unwrap();
    let ports = &out["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:ports"];
    assert_eq!(
        ports,
        &json!({"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}, "f:protocol": {}, "f:targetPort": {}}})
    );
}
