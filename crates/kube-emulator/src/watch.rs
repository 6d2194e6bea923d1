//! Watches: newline-delimited JSON events streamed from a `resourceVersion` (replayed
//! from the bounded history; 410 Gone as an `ERROR` event when it is too old), with
//! selectors, bookmarks, `timeoutSeconds`, `sendInitialEvents`, and fault-injected
//! closing.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::Shared;
use super::read::{selectors, served};
use super::resources::ResourceType;
use super::selectors::{FieldSelector, LabelSelector};
use super::server::Request;
use super::status::ApiError;
use super::store::{Change, EventType};
use super::table;

/// Default watch length when the client sets no `timeoutSeconds` (upstream: 30–60 min).
const DEFAULT_TIMEOUT: Duration = Duration::from_mins(30);

struct Filter {
    key: String,
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    fn matches(&self, object: &Value) -> bool {
        self.labels.matches(object) && self.fields.matches(object)
    }

    /// The event type this watcher sees for a change, if any (an object leaving the
    /// selection is `DELETED`, one entering it `ADDED`, as upstream).
    fn event_for(&self, change: &Change) -> Option<&'static str> {
        if change.key != self.key
            || self
                .namespace
                .as_deref()
                .is_some_and(|ns| ns != change.namespace)
        {
            return None;
        }
        let now = self.matches(&change.object);
        let before = change.previous.as_deref().is_some_and(|p| self.matches(p));
        match (change.event, before, now) {
            (EventType::Deleted, _, true) | (EventType::Modified, true, false) => Some("DELETED"),
            (EventType::Added, _, true) | (EventType::Modified, false, true) => Some("ADDED"),
            (EventType::Modified, true, true) => Some("MODIFIED"),
            _ => None,
        }
    }
}

/// How a watch serves its objects: as they are, or each as a one-row Table
/// ([`crate::table`]) when the request asked for Tables.
struct Format {
    rt: Arc<ResourceType>,
    columns: Option<Vec<Value>>,
    include_object: String,
}

impl Format {
    fn event(&self, kind: &str, object: Value) -> Bytes {
        let object = served(&self.rt, object);
        match &self.columns {
            None => line(kind, &object),
            Some(columns) => {
                let metadata = json!({"resourceVersion": object["metadata"]["resourceVersion"]});
                line(
                    kind,
                    &table::table(columns, &[object], &self.include_object, &metadata),
                )
            }
        }
    }
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut text =
        serde_json::to_vec(&json!({ "type": kind, "object": object })).unwrap_or_default();
    text.push(b'\n');
    Bytes::from(text)
}

fn bookmark(rt: &ResourceType, rv: u64, initial_end: bool) -> Bytes {
    let mut object = json!({
        "kind": rt.kind,
        "apiVersion": rt.api_version(),
        "metadata": { "resourceVersion": rv.to_string() },
    });
    if initial_end {
        object["metadata"]["annotations"] = json!({ "k8s.io/initial-events-end": "true" });
    }
    line("BOOKMARK", &object)
}

fn stream_response(rx: mpsc::Receiver<Bytes>) -> Response {
    let body = Body::from_stream(ReceiverStream::new(rx).map(Ok::<_, Infallible>));
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// A watch that only reports 410 Gone, as the real server's watch cache does.
fn gone(error: &ApiError) -> Response {
    let (tx, rx) = mpsc::channel(1);
    // Capacity 1 and a fresh channel: this cannot fail.
    let _ = tx.try_send(line("ERROR", &error.to_status()));
    stream_response(rx)
}

/// `GET ...?watch=true`.
pub fn serve(shared: &Arc<Shared>, request: &Request) -> Response {
    let rt = Arc::clone(&request.target.rt);
    let (labels, fields) = match selectors(shared, request) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let format = Format {
        rt: Arc::clone(&rt),
        columns: table::wanted(shared, request),
        include_object: table::include_object(request),
    };
    let filter = Filter {
        key: rt.store_key(),
        namespace: request.target.namespace.clone(),
        labels,
        fields,
    };
    let params = &request.params;
    let bookmarks = params.flag("allowWatchBookmarks");
    let send_initial = params.flag("sendInitialEvents");
    let timeout = params
        .get("timeoutSeconds")
        .and_then(|t| t.parse().ok())
        .map_or(DEFAULT_TIMEOUT, Duration::from_secs);
    if shared.faults.take_expire(&rt.plural) {
        let rv: u64 = params
            .get("resourceVersion")
            .and_then(|r| r.parse().ok())
            .unwrap_or(0);
        let current = shared.store.lock().current_rv();
        return gone(&ApiError::expired(rv, current));
    }
    let mut initial = Vec::new();
    let (start_rv, events) = {
        let world = shared.store.lock();
        let current = world.current_rv();
        let requested = params.get("resourceVersion");
        if send_initial || matches!(requested, None | Some("0")) {
            if let Some(bucket) = world.bucket(&filter.key) {
                initial.extend(
                    bucket
                        .iter()
                        .filter(|((ns, _), o)| {
                            filter.namespace.as_deref().is_none_or(|want| want == ns)
                                && filter.matches(o)
                        })
                        .map(|(_, o)| format.event("ADDED", o.clone())),
                );
            }
            if send_initial && bookmarks {
                initial.push(bookmark(&rt, current, true));
            }
        } else {
            let Some(rv) = requested.and_then(|r| r.parse::<u64>().ok()) else {
                return ApiError::bad_request("invalid resource version").into_response();
            };
            match world.changes_since(rv, &filter.key) {
                Ok(changes) => initial.extend(changes.iter().filter_map(|c| {
                    filter
                        .event_for(c)
                        .map(|kind| format.event(kind, (*c.object).clone()))
                })),
                Err(oldest) => return gone(&ApiError::expired(rv, oldest)),
            }
        }
        (current, world.subscribe())
    };
    let (tx, rx) = mpsc::channel(256);
    let task = Stream {
        rt,
        format,
        filter,
        events,
        close: shared.faults.close_signal(),
        shutdown: shared.shutdown.subscribe(),
        bookmarks,
        bookmark_interval: shared.options.bookmark_interval,
        timeout,
        last_rv: start_rv,
        tx,
    };
    tokio::spawn(task.run(initial));
    stream_response(rx)
}

struct Stream {
    rt: Arc<ResourceType>,
    format: Format,
    filter: Filter,
    events: broadcast::Receiver<Arc<Change>>,
    close: broadcast::Receiver<Option<String>>,
    shutdown: broadcast::Receiver<()>,
    bookmarks: bool,
    bookmark_interval: Duration,
    timeout: Duration,
    last_rv: u64,
    tx: mpsc::Sender<Bytes>,
}

impl Stream {
    async fn run(mut self, initial: Vec<Bytes>) {
        for bytes in initial {
            if self.tx.send(bytes).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(self.timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(self.bookmark_interval);
        ticker.tick().await;
        loop {
            tokio::select! {
                event = self.events.recv() => match event {
                    Ok(change) => {
                        self.last_rv = change.rv;
                        if let Some(kind) = self.filter.event_for(&change) {
                            let bytes = self.format.event(kind, (*change.object).clone());
                            if self.tx.send(bytes).await.is_err() {
                                return;
                            }
                        }
                    }
                    // Lagging behind or shut down: end the watch; the client resumes from its RV.
                    Err(_) => return,
                },
                _ = ticker.tick(), if self.bookmarks => {
                    if self.tx.send(bookmark(&self.rt, self.last_rv, false)).await.is_err() {
                        return;
                    }
                }
                () = &mut deadline => {
                    if self.bookmarks {
                        let _ = self.tx.send(bookmark(&self.rt, self.last_rv, false)).await;
                    }
                    return;
                }
                command = self.close.recv() => match command {
                    Ok(Some(resource)) if resource != self.rt.plural => {}
                    _ => return,
                },
                _ = self.shutdown.recv() => return,
                () = self.tx.closed() => return,
            }
        }
    }
}
