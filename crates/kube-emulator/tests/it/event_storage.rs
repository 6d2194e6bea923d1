//! Both Event APIs as views of one storage, as kube-apiserver keeps the internal core
//! `Event` and converts it (`pkg/apis/events/v1/conversion.go`): an Event written through
//! one API is read, selected (each API's field labels), watched, patched and deleted
//! through the other, and `kubectl describe` shows the operator's events.k8s.io Events.

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Event as CoreEvent};
use kube::api::{
    DeleteParams, DynamicObject, ListParams, Patch, PatchParams, WatchEvent, WatchParams,
};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

use crate::events::{event, events_api};
use crate::support::{self, causes, create, dynamic, invalid, merge_patch, object, start};

/// One events.k8s.io/v1 Event about ConfigMap `web` (uid `uid`), with a series and the
/// fields the core form renames.
fn about(name: &str, uid: &str, note: &str) -> DynamicObject {
    event(&json!({
        "metadata": {"name": name},
        "regarding": {"apiVersion": "v1", "kind": "ConfigMap", "namespace": "default",
            "name": "web", "uid": uid},
        "note": note,
        "series": {"count": 2, "lastObservedTime": "2025-01-01T00:00:05.000000Z"}
    }))
}

fn core_api(emu: &kube_emulator::EmulatorHandle) -> Api<CoreEvent> {
    Api::default_namespaced(emu.client())
}

fn selected(uid: &str) -> ListParams {
    ListParams::default().fields(&format!("involvedObject.uid={uid}"))
}

// Upstream: both Event APIs serve the one internal core Event (pkg/apis/events/v1
// conversion.go): `regarding` is core's `involvedObject`, `note` its `message`,
// `reportingController` its `reportingComponent`; core's field selectors
// (`involvedObject.uid`, …, what `kubectl describe` sends) find Events the operator wrote
// through events.k8s.io, and each API accepts only its own field names.
#[tokio::test]
async fn an_events_v1_event_is_read_and_selected_through_core_v1() {
    let emu = start().await;
    let created = create(&events_api(&emu), &about("web.1", "uid-1", "hello")).await;
    create(&events_api(&emu), &about("web.2", "uid-2", "other")).await;
    let core = core_api(&emu);

    let got = core.get("web.1").await.unwrap();
    assert_eq!(got.involved_object.uid.as_deref(), Some("uid-1"));
    assert_eq!(got.involved_object.kind.as_deref(), Some("ConfigMap"));
    assert_eq!(got.message.as_deref(), Some("hello"));
    assert_eq!(
        got.reporting_component.as_deref(),
        Some("tiered.io/operator")
    );
    assert_eq!(got.reporting_instance.as_deref(), Some("tiered-0"));
    assert_eq!(
        (
            got.action.as_deref(),
            got.reason.as_deref(),
            got.type_.as_deref()
        ),
        (Some("Apply"), Some("Updated"), Some("Normal"))
    );
    assert_eq!(got.series.and_then(|s| s.count), Some(2));
    assert!(got.event_time.is_some());
    assert_eq!(got.metadata.uid, created.metadata.uid);
    assert_eq!(
        got.metadata.resource_version,
        created.metadata.resource_version
    );

    let found = core.list(&selected("uid-1")).await.unwrap();
    let names: Vec<String> = found.items.iter().map(ResourceExt::name_any).collect();
    assert_eq!(names, ["web.1"]);
    let by_object = ListParams::default().fields(
        "involvedObject.name=web,involvedObject.namespace=default,involvedObject.kind=ConfigMap",
    );
    assert_eq!(core.list(&by_object).await.unwrap().items.len(), 2);
    // `source` falls back to the reporting controller (upstream `ToSelectableFields`).
    let by_source = ListParams::default().fields("source=tiered.io/operator,reason=Updated");
    assert_eq!(core.list(&by_source).await.unwrap().items.len(), 2);
    let by_component = ListParams::default().fields("reportingComponent=tiered.io/operator");
    assert_eq!(core.list(&by_component).await.unwrap().items.len(), 2);
    let regarding = ListParams::default().fields("regarding.uid=uid-2");
    let listed = events_api(&emu).list(&regarding).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].data["note"], "other");

    for (fields, wrong_api) in [
        ("regarding.uid=uid-1", true),
        ("reportingController=x", true),
        ("note=hello", true),
        ("involvedObject.uid=uid-1", false),
        ("reportingComponent=x", false),
    ] {
        let params = ListParams::default().fields(fields);
        let error = if wrong_api {
            core.list(&params).await.map(|_| ()).unwrap_err()
        } else {
            events_api(&emu)
                .list(&params)
                .await
                .map(|_| ())
                .unwrap_err()
        };
        let status = support::api_status(error);
        assert_eq!(status.code, 400, "{fields}");
        let label = fields.split('=').next().unwrap();
        assert_eq!(
            status.message,
            format!("field label not supported: {label}")
        );
    }
}

// Upstream: a watch through one API sees the writes through the other, each object in
// the watcher's form, and a selected core watch sees only the Events about its object.
#[tokio::test]
async fn a_core_v1_watch_sees_events_written_through_events_v1() {
    let emu = start().await;
    let rv = emu.resource_version().to_string();
    let params = WatchParams::default()
        .fields("involvedObject.uid=uid-1")
        .timeout(5);
    let mut watch = core_api(&emu).watch(&params, &rv).await.unwrap().boxed();
    create(&events_api(&emu), &about("web.2", "uid-2", "not this")).await;
    create(&events_api(&emu), &about("web.1", "uid-1", "hello")).await;
    let Some(Ok(WatchEvent::Added(seen))) = watch.next().await else {
        panic!("no ADDED event");
    };
    assert_eq!(seen.name_any(), "web.1");
    assert_eq!(seen.message.as_deref(), Some("hello"));
    assert_eq!(seen.involved_object.name.as_deref(), Some("web"));
    assert_eq!(
        seen.reporting_component.as_deref(),
        Some("tiered.io/operator")
    );
    events_api(&emu)
        .delete("web.1", &DeleteParams::default())
        .await
        .unwrap();
    let Some(Ok(WatchEvent::Deleted(gone))) = watch.next().await else {
        panic!("no DELETED event");
    };
    assert_eq!(gone.message.as_deref(), Some("hello"));
}

// Upstream `Convert_core_Event_To_v1_Event`: a core/v1 Event (as kubelet or client-go's
// old recorder writes it) reads through events.k8s.io/v1 with `regarding`, `note` and
// the deprecated fields; events.k8s.io always writes `regarding` and `eventTime`.
#[tokio::test]
async fn a_core_v1_event_is_read_through_events_v1() {
    let emu = start().await;
    let core = dynamic(&emu, "", "v1", "Event", "events");
    create(
        &core,
        &object(json!({
            "apiVersion": "v1", "kind": "Event", "metadata": {"name": "pod.1"},
            "involvedObject": {"kind": "Pod", "namespace": "default", "name": "p", "uid": "pod-uid"},
            "reason": "Started", "message": "Started container", "type": "Normal",
            "source": {"component": "kubelet", "host": "node-1"},
            "firstTimestamp": "2025-01-01T00:00:00Z", "lastTimestamp": "2025-01-01T00:01:00Z",
            "count": 3
        })),
    )
    .await;
    let got = events_api(&emu).get("pod.1").await.unwrap();
    assert_eq!(got.types.as_ref().unwrap().api_version, "events.k8s.io/v1");
    assert_eq!(got.data["regarding"]["uid"], "pod-uid");
    assert_eq!(got.data["note"], "Started container");
    assert_eq!(got.data["deprecatedSource"]["component"], "kubelet");
    assert_eq!(got.data["deprecatedFirstTimestamp"], "2025-01-01T00:00:00Z");
    assert_eq!(got.data["deprecatedLastTimestamp"], "2025-01-01T00:01:00Z");
    assert_eq!(got.data["deprecatedCount"], 3);
    assert_eq!(got.data["eventTime"], Value::Null);
    for core_name in [
        "involvedObject",
        "message",
        "source",
        "count",
        "firstTimestamp",
    ] {
        assert!(got.data.get(core_name).is_none(), "{core_name}: {got:?}");
    }
    let by_source = ListParams::default().fields("source=kubelet,regarding.name=p");
    assert_eq!(
        events_api(&emu).list(&by_source).await.unwrap().items.len(),
        1
    );
}

// Upstream: a patch applies to the object in the form of the API it is sent to (the
// stored object converted first), is validated by that API's rules, and is seen through
// the other; a delete through one API removes the Event from both.
#[tokio::test]
async fn an_event_is_patched_through_either_api_and_deleted_from_both() {
    let emu = start().await;
    create(&events_api(&emu), &about("web.1", "uid-1", "hello")).await;
    let core = core_api(&emu);
    // A JSON patch whose `test` holds only in the events.k8s.io form.
    let grow = json!([
        {"op": "test", "path": "/note", "value": "hello"},
        {"op": "replace", "path": "/series/count", "value": 3}
    ]);
    let patch: json_patch::Patch = serde_json::from_value(grow).unwrap();
    let grown = events_api(&emu)
        .patch("web.1", &PatchParams::default(), &Patch::<()>::Json(patch))
        .await
        .unwrap();
    assert_eq!(grown.data["series"]["count"], 3);
    assert_eq!(
        core.get("web.1").await.unwrap().series.unwrap().count,
        Some(3)
    );
    // core/v1 keeps only the legacy rules: its `message` may change; events.k8s.io then
    // reads the new note, and still refuses to change it itself.
    let changed = merge_patch(&core, "web.1", &json!({"message": "changed"})).await;
    assert_eq!(changed.message.as_deref(), Some("changed"));
    let read = events_api(&emu).get("web.1").await.unwrap();
    assert_eq!(read.data["note"], "changed");
    assert!(read.data.get("message").is_none());
    let status = invalid(
        events_api(&emu)
            .patch(
                "web.1",
                &PatchParams::default(),
                &Patch::Merge(json!({"note": "again"})),
            )
            .await,
    );
    assert_eq!(causes(&status)[0].0, "message");

    core.delete("web.1", &DeleteParams::default())
        .await
        .unwrap();
    let missing = events_api(&emu).get("web.1").await.unwrap_err();
    assert_eq!(support::api_status(missing).code, 404);
    assert!(
        events_api(&emu)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

// Upstream kubectl `describe` lists core/v1 Events with `involvedObject.{name,namespace,
// kind,uid}` selectors: an Event written through events.k8s.io about a ConfigMap shows
// in its "Events:" section (reason, reporting controller as From, note), another
// object's does not; the same for a custom resource (the generic describer, as for
// `kubectl describe tieredapp`); `kubectl get events` lists them all as core/v1 Events.
#[tokio::test]
async fn kubectl_describe_shows_events_written_through_events_v1() {
    let (emu, _dir, kubeconfig) = support::start_for_kubectl().await;
    let config_maps: Api<ConfigMap> = Api::default_namespaced(emu.client());
    let web = create(&config_maps, &support::config_map("web")).await;
    let uid = web.metadata.uid.clone().unwrap();
    create(
        &events_api(&emu),
        &about("web.1", &uid, "children changed: Deployment"),
    )
    .await;
    create(
        &events_api(&emu),
        &about("web.2", "someone-else", "not about web"),
    )
    .await;
    let described = support::kubectl_ok(&kubeconfig, &["describe", "configmap", "web"]).await;
    let events = described
        .split("Events:")
        .nth(1)
        .unwrap_or_else(|| panic!("no Events section: {described}"));
    let row = events
        .lines()
        .find(|line| line.contains("Updated"))
        .unwrap_or_else(|| panic!("no Updated Event: {described}"));
    assert!(row.contains("Normal"), "{row}");
    assert!(row.contains("tiered.io/operator"), "{row}");
    assert!(row.contains("children changed: Deployment"), "{row}");
    assert!(!events.contains("not about web"), "{described}");
    // A custom resource (`kubectl describe tieredapp …`): kubectl's generic describer.
    let widgets = support::install_crd(
        &emu,
        ("example.io", "v1", "Widget", "widgets"),
        json!({"schema": {"openAPIV3Schema": {"type": "object",
            "x-kubernetes-preserve-unknown-fields": true}}}),
    )
    .await;
    let gizmo = object(json!({"apiVersion": "example.io/v1", "kind": "Widget",
        "metadata": {"name": "gizmo"}, "spec": {"size": 1}}));
    let gizmo = create(&widgets, &gizmo).await;
    let regarding = json!({"apiVersion": "example.io/v1", "kind": "Widget",
        "namespace": "default", "name": "gizmo", "uid": gizmo.metadata.uid});
    let warning = json!({"metadata": {"name": "gizmo.1"}, "regarding": regarding,
        "type": "Warning", "reason": "Stalled", "note": "the name is taken"});
    create(&events_api(&emu), &event(&warning)).await;
    let described = support::kubectl_ok(&kubeconfig, &["describe", "widget", "gizmo"]).await;
    let events = described.split("Events:").nth(1).unwrap_or_default();
    assert!(
        events.lines().any(|line| line.contains("Warning")
            && line.contains("Stalled")
            && line.contains("the name is taken")),
        "{described}"
    );
    let listed = support::kubectl_json(&kubeconfig, &["get", "events", "-o", "json"]).await;
    let messages: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        messages,
        [
            "the name is taken",
            "children changed: Deployment",
            "not about web"
        ],
        "{listed}"
    );
}
