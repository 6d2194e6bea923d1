//! The connection Secret is created (POST) when absent, so two objects that want the
//! same Secret name at the same moment cannot both take it (issue 9): a Secret someone
//! made between the reconcile's read and its write is reported as taken and left as
//! it is; before, the write was a forced server-side apply that took it over.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt};
use serde_json::json;
use tiered::controllers::data_tier::apply::{SecretWrite, apply_secret};
use tiered::controllers::data_tier::secret::connection_secret;
use tiered::controllers::managed_database::Rds;
use tiered::runtime::own_writes::OwnWrites;

use crate::support::data_tier::operator::NS;
use crate::support::data_tier::{Kind, object};
use crate::support::operator::{create_foreign, emulator, secret_text};

fn ours() -> Secret {
    let mut db = object::<Rds>(NS, "db", &Rds::manifest_spec());
    db.metadata.uid = Some("uid-db".into());
    let data = BTreeMap::from([("password".to_owned(), ByteString(b"ours".to_vec()))]);
    connection_secret(&db, "database", data).0
}

#[tokio::test]
async fn a_secret_made_by_someone_else_after_our_read_is_reported_taken_and_left_untouched() {
    let emulator = emulator(&[NS], false).await;
    let (secrets, _) = create_foreign::<Secret>(
        &emulator.client(),
        NS,
        json!({
            "metadata": {"name": "db-connection", "namespace": NS},
            "stringData": {"password": "theirs"}
        }),
    )
    .await;

    // The reconcile read the Secret as absent (`None`) just before.
    let own = OwnWrites::default();
    let written = apply_secret(&secrets, &ours(), None, &own).await.unwrap();

    let SecretWrite::Taken(taken) = written else {
        panic!("not reported as taken: {written:?}");
    };
    assert!(taken.owner_references().is_empty());
    let now = secrets.get("db-connection").await.unwrap();
    assert_eq!(
        secret_text(&now).get("password").map(String::as_str),
        Some("theirs")
    );
    assert!(now.owner_references().is_empty(), "not taken over");
    assert!(!own.is_own(&now), "its events are someone else's");
}

#[tokio::test]
async fn an_absent_secret_is_created_owned_by_its_object_and_its_event_is_our_own() {
    let emulator = emulator(&[NS], false).await;
    let secrets: Api<Secret> = Api::namespaced(emulator.client(), NS);
    let own = OwnWrites::default();
    let written = apply_secret(&secrets, &ours(), None, &own).await.unwrap();
    assert!(matches!(written, SecretWrite::Written), "{written:?}");
    let created = secrets.get("db-connection").await.unwrap();
    assert_eq!(created.owner_references()[0].uid, "uid-db");
    assert_eq!(
        secret_text(&created).get("password").map(String::as_str),
        Some("ours")
    );
    assert!(own.is_own(&created));
    // Unchanged: nothing is written.
    let again = apply_secret(&secrets, &ours(), Some(&created), &own)
        .await
        .unwrap();
    assert!(matches!(again, SecretWrite::Unchanged));
}
