//! Watches: resuming from a resourceVersion, bookmarks, 410 Gone for a resourceVersion
//! that fell out of the history (an `ERROR` event with a `Status` of reason `Expired`,
//! as the watch cache sends it), and kube-runtime's `watcher` relisting after it.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{PostParams, WatchEvent, WatchParams};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use kube_emulator::{Emulator, EmulatorOptions};

use crate::support::{config_map, create, start, watch_from_now};

// Upstream: a watch from resourceVersion N delivers every change after N, in order.
#[tokio::test]
async fn a_watch_from_a_resource_version_replays_later_changes() {
    let emu = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(emu.client());
    let a = create(&api, &config_map("a")).await;
    let rv = a.resource_version().unwrap();
    create(&api, &config_map("b")).await;
    let mut changed = a.clone();
    changed.data = Some([("k".to_owned(), "v".to_owned())].into());
    api.replace("a", &PostParams::default(), &changed)
        .await
        .unwrap();

    let mut stream = api
        .watch(&WatchParams::default().timeout(5), &rv)
        .await
        .unwrap()
        .boxed();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match stream.try_next().await.unwrap().unwrap() {
            WatchEvent::Added(o) => seen.push(format!("ADDED {}", o.name_any())),
            WatchEvent::Modified(o) => seen.push(format!("MODIFIED {}", o.name_any())),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, vec!["ADDED b", "MODIFIED a"]);
}

// Upstream: with allowWatchBookmarks the server sends BOOKMARK events carrying a
// resourceVersion the client may resume from.
#[tokio::test]
async fn a_watch_with_bookmarks_receives_bookmarks() {
    let options = EmulatorOptions {
        bookmark_interval: Duration::from_millis(50),
        ..EmulatorOptions::default()
    };
    let emu = Emulator::start(options).await.unwrap();
    let mut stream = watch_from_now(&emu, 5).await;
    let event = tokio::time::timeout(Duration::from_secs(2), stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match event {
        WatchEvent::Bookmark(b) => assert!(b.metadata.resource_version.parse::<u64>().is_ok()),
        other => panic!("expected a bookmark, got {other:?}"),
    }
}

// Upstream: a watch from a resourceVersion older than the history gets one ERROR event
// with code 410 and reason Expired.
#[tokio::test]
async fn a_watch_from_a_compacted_resource_version_gets_410_gone() {
    let options = EmulatorOptions {
        history_limit: 3,
        ..EmulatorOptions::default()
    };
    let emu = Emulator::start(options).await.unwrap();
    let api: Api<ConfigMap> = Api::default_namespaced(emu.client());
    let first = create(&api, &config_map("first")).await;
    for i in 0..10 {
        create(&api, &config_map(&format!("n{i}"))).await;
    }
    let mut stream = api
        .watch(
            &WatchParams::default().timeout(5),
            &first.resource_version().unwrap(),
        )
        .await
        .unwrap()
        .boxed();
    match stream.try_next().await.unwrap().unwrap() {
        WatchEvent::Error(e) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => panic!("expected 410, got {other:?}"),
    }
}

// Upstream behaviour that kube-runtime relies on: after a 410 the watcher relists and
// keeps delivering changes.
#[tokio::test]
async fn kube_runtime_watcher_relists_after_410_gone() {
    let emu = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(emu.client());
    create(&api, &config_map("before")).await;
    let mut events = watcher(api.clone(), watcher::Config::default()).boxed();
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .unwrap()
            .unwrap()
    };
    loop {
        if matches!(next().await, Ok(watcher::Event::InitDone)) {
            break;
        }
    }
    let lists = || {
        emu.requests()
            .all()
            .iter()
            .filter(|r| r.verb == "list" && r.resource == "configmaps")
            .count()
    };
    let lists_before = lists();

    emu.faults().expire_next_watch(Some("configmaps"));
    emu.faults().close_watches(Some("configmaps"));
    let mut relisted = false;
    let mut errors = 0;
    while !relisted {
        match next().await {
            Ok(watcher::Event::InitDone) => relisted = true,
            Ok(_) => {}
            Err(_) => errors += 1,
        }
    }
    assert!(errors >= 1, "the watcher saw the 410");
    assert!(lists() > lists_before, "the watcher relisted");

    create(&api, &config_map("after")).await;
    loop {
        if let Ok(watcher::Event::Apply(cm)) = next().await
            && cm.name_any() == "after"
        {
            break;
        }
    }
}
