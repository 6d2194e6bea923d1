//! The operator tests of both data-tier kinds: a running operator on the emulator and
//! a private `moto_server`, the object of kind `K` it reconciles, and the waits and
//! reads of its status the generic and the per-kind tests share.

use std::marker::PhantomData;

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::core::object::HasStatus;
use serde_json::Value;
use tiered::api::TieredApp;
use tiered::runtime::kstatus::WithConditions;

use super::{Kind, merged, object};
use crate::support::moto::{MotoServer, aws_config};
use crate::support::operator::{
    Running, app_using, env_from_secret, eventually, find_condition, start_with_aws,
    wait_for_app_reason,
};

/// The namespace of the operator tests.
pub const NS: &str = "shop";

/// A running operator, its moto, and the API of `K`'s objects.
pub struct Setup<K: Kind> {
    /// The operator.
    pub op: Running,
    /// Its AWS.
    pub moto: MotoServer,
    /// `K`'s objects in [`NS`].
    pub objects: Api<K::Object>,
    kind: PhantomData<K>,
}

/// Starts an operator on [`NS`] with a private moto.
pub async fn setup<K: Kind>() -> Setup<K> {
    let moto = MotoServer::start();
    let op = start_with_aws(&[NS], &aws_config(&moto)).await;
    let objects = Api::namespaced(op.client.clone(), NS);
    Setup {
        op,
        moto,
        objects,
        kind: PhantomData,
    }
}

impl<K: Kind> Setup<K> {
    /// Creates the object [`Kind::OBJECT`] with the operator tests' spec and `extra`.
    pub async fn create(&self, extra: &Value) {
        let spec = merged(K::manifest_spec(), extra);
        self.objects
            .create(&PostParams::default(), &object::<K>(NS, K::OBJECT, &spec))
            .await
            .expect("create");
    }

    /// Merge-patches the object with `patch` (`{"spec": …}` or `{"metadata": …}`).
    pub async fn patch(&self, patch: Value) {
        self.objects
            .patch(K::OBJECT, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .expect("patch");
    }

    /// Deletes the object (the operator's finalizer then cleans up).
    pub async fn delete(&self) {
        self.objects
            .delete(K::OBJECT, &DeleteParams::default())
            .await
            .expect("delete");
    }

    /// The object, once its `type_` condition has `status` (and `reason`, if given).
    pub async fn wait_for(&self, type_: &str, status: &str, reason: Option<&str>) -> K::Object {
        eventually(&format!("{type_} is {status}"), || async {
            self.objects.get(K::OBJECT).await.is_ok_and(|object| {
                condition::<K>(&object, type_)
                    .is_some_and(|(s, r, _)| s == status && reason.is_none_or(|reason| r == reason))
            })
        })
        .await;
        self.objects.get(K::OBJECT).await.expect("get")
    }

    /// The object once Ready.
    pub async fn wait_ready(&self) -> K::Object {
        self.wait_for("Ready", "True", None).await
    }

    /// Waits until the object is gone.
    pub async fn wait_gone(&self) {
        eventually("the object is gone", || async {
            self.objects
                .get_opt(K::OBJECT)
                .await
                .expect("get")
                .is_none()
        })
        .await;
    }

    /// A TieredApp whose `api` tier uses the object: it waits (not rolled out) until
    /// the object is Ready, then rolls out with the Secret's `url` in
    /// [`Kind::URL_ENV`]. Returns the rolled-out Deployment.
    pub async fn tier_waits_then_rolls_out(&self) -> Deployment {
        let apps: Api<TieredApp> = Api::namespaced(self.op.client.clone(), NS);
        let deployments: Api<Deployment> = Api::namespaced(self.op.client.clone(), NS);
        apps.create(
            &PostParams::default(),
            &app_using(NS, K::TIER_KEY, K::OBJECT),
        )
        .await
        .expect("create the app");
        wait_for_app_reason(&apps, "newsread", K::WAITING_REASON).await;
        assert!(
            deployments
                .get_opt("newsread-api")
                .await
                .expect("get")
                .is_none(),
            "the tier is not rolled out before its {} is Ready",
            K::TIER_KEY
        );
        self.create(&serde_json::json!({})).await;
        self.wait_ready().await;
        eventually("the tier rolls out", || async {
            deployments
                .get_opt("newsread-api")
                .await
                .expect("get")
                .is_some()
        })
        .await;
        let deployment = deployments.get("newsread-api").await.expect("get");
        assert_eq!(
            env_from_secret(&deployment, K::URL_ENV),
            (format!("{}-connection", K::OBJECT), "url".to_owned())
        );
        deployment
    }
}

/// `(status, reason, message)` of condition `type_` of `object`.
pub fn condition<K: Kind>(object: &K::Object, type_: &str) -> Option<(String, String, String)> {
    find_condition(object.status()?.conditions(), type_)
}

/// The object's status as it is on the wire (the fields both kinds have, read alike).
pub fn wire_status<K: Kind>(object: &K::Object) -> Value {
    serde_json::to_value(object).expect("serializes")["status"].clone()
}
