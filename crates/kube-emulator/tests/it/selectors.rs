//! List semantics: label selectors (=, ==, !=, in, notin, exists, !exists), field
//! selectors on metadata.name / metadata.namespace, `limit` + `continue` paging, and
//! lists across namespaces — as the real API server's storage layer answers them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ListParams, PostParams};
use kube::{Api, ResourceExt};
use kube_emulator::EmulatorHandle;

use crate::support::{config_map, create_namespace, start};

async fn seeded() -> EmulatorHandle {
    let emu = start().await;
    create_namespace(&emu, "other").await;
    for (ns, name, labels) in [
        ("default", "a", vec![("tier", "web"), ("env", "prod")]),
        ("default", "b", vec![("tier", "api"), ("env", "prod")]),
        ("default", "c", vec![("tier", "db")]),
        ("other", "d", vec![("tier", "web")]),
    ] {
        let mut cm = config_map(name);
        cm.metadata.labels = Some(
            labels
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect::<BTreeMap<_, _>>(),
        );
        Api::<ConfigMap>::namespaced(emu.client(), ns)
            .create(&PostParams::default(), &cm)
            .await
            .unwrap();
    }
    emu
}

async fn names(api: &Api<ConfigMap>, params: &ListParams) -> Vec<String> {
    api.list(params)
        .await
        .unwrap()
        .items
        .iter()
        .map(ResourceExt::name_any)
        .collect()
}

// Upstream: labels.Parse grammar and matching.
#[tokio::test]
async fn label_selectors_filter_lists() {
    let emu = seeded().await;
    let api: Api<ConfigMap> = Api::default_namespaced(emu.client());
    for (selector, expected) in [
        ("tier=web", vec!["a"]),
        ("tier==api", vec!["b"]),
        ("tier!=web", vec!["b", "c"]),
        ("tier in (web,db)", vec!["a", "c"]),
        ("tier notin (web,db)", vec!["b"]),
        ("env", vec!["a", "b"]),
        ("!env", vec!["c"]),
        ("env=prod,tier!=api", vec!["a"]),
    ] {
        assert_eq!(
            names(&api, &ListParams::default().labels(selector)).await,
            expected,
            "{selector}"
        );
    }
}

// Upstream: every kind supports metadata.name and metadata.namespace field selectors.
#[tokio::test]
async fn field_selectors_match_name_and_namespace() {
    let emu = seeded().await;
    let all: Api<ConfigMap> = Api::all(emu.client());
    for (selector, expected) in [
        ("metadata.name=b", vec!["b"]),
        ("metadata.namespace=other", vec!["d"]),
        ("metadata.namespace!=other", vec!["a", "b", "c"]),
    ] {
        assert_eq!(
            names(&all, &ListParams::default().fields(selector)).await,
            expected,
            "{selector}"
        );
    }
}

// Upstream: `limit` returns at most that many items plus a `continue` token; following
// tokens returns the rest exactly once.
#[tokio::test]
async fn paging_with_limit_and_continue_returns_every_item_once() {
    let emu = seeded().await;
    let all: Api<ConfigMap> = Api::all(emu.client());
    let mut seen = Vec::new();
    let mut params = ListParams::default().limit(3);
    let mut pages = 0;
    loop {
        let page = all.list(&params).await.unwrap();
        pages += 1;
        assert!(page.items.len() <= 3);
        assert!(page.metadata.resource_version.is_some());
        seen.extend(page.items.iter().map(ResourceExt::name_any));
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => break,
        }
    }
    assert_eq!(pages, 2);
    assert_eq!(seen, vec!["a", "b", "c", "d"]);
}
