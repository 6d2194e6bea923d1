//! Adoption is opt-in on both sides, and an adopted resource is never deleted: the API
//! server refuses `adopt` with `deletionPolicy: Delete` for both AWS-backed kinds.

use kube::Api;
use kube::api::{DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::json;

use crate::support::operator::emulator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopt_with_deletion_policy_delete_is_refused_by_the_crd_for_both_kinds() {
    let emulator = emulator(&["shop"], false).await;
    let cases = [
        (
            "ManagedDatabase",
            "manageddatabases",
            json!({"engine": "postgres", "engineVersion": "16.4", "instanceClass": "db.t4g.micro",
                   "storage": {"allocatedGiB": 20}, "databaseName": "app", "masterUsername": "app",
                   "adopt": {"identifier": "legacy-db"}, "deletionPolicy": "Delete"}),
        ),
        (
            "CacheCluster",
            "cacheclusters",
            json!({"engine": "valkey", "engineVersion": "8.0", "nodeType": "cache.t4g.micro",
                   "adopt": {"replicationGroupId": "legacy-cache"}, "deletionPolicy": "Delete"}),
        ),
    ];
    for (kind, plural, spec) in cases {
        let resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("tiered.io", "v1alpha1", kind),
            plural,
        );
        let api: Api<DynamicObject> = Api::namespaced_with(emulator.client(), "shop", &resource);
        let mut object = DynamicObject::new("legacy", &resource);
        object.data = json!({"spec": spec});
        let error = api
            .create(&PostParams::default(), &object)
            .await
            .expect_err("adopt + Delete must be refused");
        let kube::Error::Api(status) = error else {
            panic!("{kind}: not an API error: {error}");
        };
        assert_eq!(status.code, 422, "{kind}: {status:?}");
        assert!(
            status
                .message
                .contains("adopt cannot be combined with deletionPolicy: Delete"),
            "{kind}: {}",
            status.message
        );
        // The same object with Retain is accepted.
        object.data["spec"]["deletionPolicy"] = json!("Retain");
        api.create(&PostParams::default(), &object)
            .await
            .unwrap_or_else(|e| panic!("{kind} with Retain: {e}"));
    }
}
