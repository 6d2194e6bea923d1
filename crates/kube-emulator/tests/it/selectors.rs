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

/// Checks each `(selector, names)` case: listing `api` with the selector, made into
/// list parameters by `params`, gives exactly those names.
async fn assert_selects(
    api: &Api<ConfigMap>,
    params: fn(&str) -> ListParams,
    cases: &[(&str, Vec<&str>)],
) {
    for (selector, expected) in cases {
        assert_eq!(names(api, &params(selector)).await, *expected, "{selector}");
    }
}

fn labelled(selector: &str) -> ListParams {
    ListParams::default().labels(selector)
}

fn fielded(selector: &str) -> ListParams {
    ListParams::default().fields(selector)
}

// Upstream: labels.Parse grammar and matching.
#[tokio::test]
async fn label_selectors_filter_lists() {
    let emu = seeded().await;
    let api: Api<ConfigMap> = Api::default_namespaced(emu.client());
    assert_selects(
        &api,
        labelled,
        &[
            ("tier=web", vec!["a"]),
            ("tier==api", vec!["b"]),
            ("tier!=web", vec!["b", "c"]),
            ("tier in (web,db)", vec!["a", "c"]),
            ("tier notin (web,db)", vec!["b"]),
            ("env", vec!["a", "b"]),
            ("!env", vec!["c"]),
            ("env=prod,tier!=api", vec!["a"]),
        ],
    )
    .await;
}

// Upstream: every kind supports metadata.name and metadata.namespace field selectors.
#[tokio::test]
async fn field_selectors_match_name_and_namespace() {
    let emu = seeded().await;
    let all: Api<ConfigMap> = Api::all(emu.client());
    assert_selects(
        &all,
        fielded,
        &[
            ("metadata.name=b", vec!["b"]),
            ("metadata.namespace=other", vec!["d"]),
            ("metadata.namespace!=other", vec!["a", "b", "c"]),
        ],
    )
    .await;
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

// Upstream: labels.Parse (k8s.io/apimachinery/pkg/labels/selector.go) refuses a selector
// it cannot parse, a key that is not a qualified name, a value that is not a label value
// and an empty set, and the list answers 400 BadRequest with its message; a kinder
// emulator let a selector no API server takes pass (e.g. `--watch-label-selector`).
#[tokio::test]
async fn invalid_label_selectors_are_refused_with_400_as_labels_parse_does() {
    let emu = seeded().await;
    let api: Api<ConfigMap> = Api::default_namespaced(emu.client());
    let long = format!("tier={}", "x".repeat(64));
    for (selector, message) in [
        (long.as_str(), "values[0][tier]: Invalid value: \"xxx"),
        (long.as_str(), "must be no more than 63"),
        (
            "tier=web=api",
            "found '=', expected: ',' or 'end of string'",
        ),
        (
            "=web",
            "found '=', expected: !, identifier, or 'end of string'",
        ),
        ("tier=web,", "found '', expected: identifier after ','"),
        (
            "tier in (web",
            "unable to parse requirement: found '', expected: ',' or ')'",
        ),
        (
            "tier in web",
            "unable to parse requirement: found 'web', expected: '('",
        ),
        (
            "tier web",
            "unable to parse requirement: found 'web', expected: in, notin",
        ),
        ("tier in ()", "values set can't be empty"),
        (
            "tier_=web",
            "unable to parse requirement: key: Invalid value: \"tier_\"",
        ),
        (
            "-tier",
            "unable to parse requirement: key: Invalid value: \"-tier\"",
        ),
        (
            "a/b/c=d",
            "unable to parse requirement: key: Invalid value: \"a/b/c\"",
        ),
        (
            "tier=web_",
            "unable to parse requirement: values[0][tier]: Invalid value: \"web_\"",
        ),
        (
            "tier notin (web,$)",
            "unable to parse requirement: values[1][tier]",
        ),
        (
            "tier>web",
            "for 'Gt', 'Lt' operators, the value must be an integer",
        ),
    ] {
        let error = api
            .list(&ListParams::default().labels(selector))
            .await
            .expect_err(selector);
        let kube::Error::Api(status) = error else {
            panic!("{selector}: {error}");
        };
        assert_eq!(status.code, 400, "{selector}: {status:?}");
        assert_eq!(status.reason, "BadRequest", "{selector}");
        assert!(
            status.message.contains(message),
            "{selector}: {}",
            status.message
        );
    }
}

// Upstream: the rest of labels.Parse's grammar: spaces around operators, `!=` on a
// missing label, an empty value, and `>` / `<` on integer label values.
#[tokio::test]
async fn label_selectors_accept_the_whole_grammar() {
    let emu = seeded().await;
    let api: Api<ConfigMap> = Api::default_namespaced(emu.client());
    let mut numbered = config_map("n");
    numbered.metadata.labels = Some(BTreeMap::from([("replicas".to_owned(), "3".to_owned())]));
    api.create(&PostParams::default(), &numbered).await.unwrap();
    assert_selects(
        &api,
        labelled,
        &[
            (" tier = web ", vec!["a"]),
            ("tier in(web , db)", vec!["a", "c"]),
            ("env=", Vec::<&str>::new()),
            ("replicas>2", vec!["n"]),
            ("replicas<3", vec![]),
            ("!tier,!env", vec!["n"]),
            ("app.kubernetes.io/name!=x,tier", vec!["a", "b", "c"]),
        ],
    )
    .await;
}
