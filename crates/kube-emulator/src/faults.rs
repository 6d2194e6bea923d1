//! Fault injection (scripted failures, latency, dropped watches, forced 410 Gone) and the
//! request log that reliability tests read.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::broadcast;

/// Which requests a fault applies to. Empty fields match anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matcher {
    /// Verb: `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`.
    pub verb: Option<String>,
    /// Plural resource, like `configmaps`.
    pub resource: Option<String>,
    /// Object name (of a create: `metadata.name` of the body).
    pub name: Option<String>,
}

impl Matcher {
    /// Matches every request.
    pub fn any() -> Self {
        Self::default()
    }

    /// Matches one verb on one resource.
    pub fn on(verb: &str, resource: &str) -> Self {
        Self {
            verb: Some(verb.to_owned()),
            resource: Some(resource.to_owned()),
            name: None,
        }
    }

    /// Narrows to one object name.
    #[must_use]
    pub fn named(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    fn matches(&self, verb: &str, resource: &str, name: &str) -> bool {
        self.verb.as_deref().is_none_or(|v| v == verb)
            && self.resource.as_deref().is_none_or(|r| r == resource)
            && self.name.as_deref().is_none_or(|n| n == name)
    }
}

#[derive(Debug)]
struct Scripted {
    matcher: Matcher,
    code: u16,
    /// The `Status` message (`None`: `injected failure (HTTP <code>)`).
    message: Option<String>,
    remaining: usize,
}

/// A scripted failure as the server answers it: the HTTP code and, when the script
/// gave one, the `Status` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Injected {
    /// HTTP status code.
    pub code: u16,
    /// `Status.message` (`None`: the default for the code).
    pub message: Option<String>,
}

#[derive(Debug)]
struct Latency {
    matcher: Matcher,
    delay: Duration,
}

#[derive(Debug, Default)]
struct FaultState {
    scripted: Vec<Scripted>,
    latency: Vec<Latency>,
    /// Resources (`None`: any) whose next watch gets 410 Gone.
    expire_next_watch: Vec<Option<String>>,
}

/// Handle for scripting faults; cheap to clone.
#[derive(Debug, Clone)]
pub struct Faults {
    state: Arc<Mutex<FaultState>>,
    close_watches: broadcast::Sender<Option<String>>,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            state: Arc::default(),
            close_watches: broadcast::channel(64).0,
        }
    }
}

impl Faults {
    fn lock(&self) -> MutexGuard<'_, FaultState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Answers the next `times` matching requests with HTTP `code` (a `Status` body).
    pub fn fail(&self, matcher: Matcher, code: u16, times: usize) {
        self.lock().scripted.push(Scripted {
            matcher,
            code,
            message: None,
            remaining: times,
        });
    }

    /// Refuses every matching request with HTTP `code` and a `Status` whose message is
    /// `message` (its reason follows the code: 403 `Forbidden`, 422 `Invalid`, …) until
    /// [`Self::lift`] or [`Self::clear`]: what an admission webhook or a
    /// ValidatingAdmissionPolicy that denies an object looks like to a client, e.g.
    /// `admission webhook "deny.example.com" denied the request: …` (403).
    pub fn refuse(&self, matcher: Matcher, code: u16, message: &str) {
        self.lock().scripted.push(Scripted {
            matcher,
            code,
            message: Some(message.to_owned()),
            remaining: usize::MAX,
        });
    }

    /// Removes the scripted failures (of [`Self::fail`] or [`Self::refuse`]) whose
    /// matcher is `matcher`; other faults stay.
    pub fn lift(&self, matcher: &Matcher) {
        self.lock().scripted.retain(|s| &s.matcher != matcher);
    }

    /// Delays every matching request by `delay` until [`Self::clear`].
    pub fn add_latency(&self, matcher: Matcher, delay: Duration) {
        self.lock().latency.push(Latency { matcher, delay });
    }

    /// Ends every open watch now (`Some(plural)`: only watches of that resource).
    pub fn close_watches(&self, resource: Option<&str>) {
        // No open watch is fine.
        let _ = self.close_watches.send(resource.map(str::to_owned));
    }

    /// The next watch (of `resource`, or any) answers with a 410 Gone `ERROR` event.
    pub fn expire_next_watch(&self, resource: Option<&str>) {
        self.lock()
            .expire_next_watch
            .push(resource.map(str::to_owned));
    }

    /// Removes every scripted fault and latency.
    pub fn clear(&self) {
        *self.lock() = FaultState::default();
    }

    /// Whether any scripted failure is waiting (a cheap check before finding a name).
    pub(crate) fn any_scripted(&self) -> bool {
        !self.lock().scripted.is_empty()
    }

    /// The scripted failure for this request, if any (consumes one use).
    pub(crate) fn take_failure(&self, verb: &str, resource: &str, name: &str) -> Option<Injected> {
        let mut state = self.lock();
        let hit = state
            .scripted
            .iter_mut()
            .find(|s| s.remaining > 0 && s.matcher.matches(verb, resource, name))?;
        hit.remaining -= 1;
        let injected = Injected {
            code: hit.code,
            message: hit.message.clone(),
        };
        state.scripted.retain(|s| s.remaining > 0);
        Some(injected)
    }

    /// Total injected latency for this request.
    pub(crate) fn latency(&self, verb: &str, resource: &str, name: &str) -> Duration {
        self.lock()
            .latency
            .iter()
            .filter(|l| l.matcher.matches(verb, resource, name))
            .map(|l| l.delay)
            .sum()
    }

    /// Whether this watch must be answered with 410 Gone (consumes the request).
    pub(crate) fn take_expire(&self, resource: &str) -> bool {
        let mut state = self.lock();
        let pos = state
            .expire_next_watch
            .iter()
            .position(|r| r.as_deref().is_none_or(|r| r == resource));
        pos.map(|i| state.expire_next_watch.remove(i)).is_some()
    }

    /// Receiver of "close watches" commands.
    pub(crate) fn close_signal(&self) -> broadcast::Receiver<Option<String>> {
        self.close_watches.subscribe()
    }
}

/// One served request.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// URL path.
    pub path: String,
    /// Raw query string.
    pub query: String,
    /// Kubernetes verb (`get`, `list`, `watch`, `create`, …; `discovery` for the rest).
    pub verb: String,
    /// API group of the resource (`""` for the core group and non-resource URLs).
    pub group: String,
    /// Plural resource (empty for non-resource URLs).
    pub resource: String,
    /// Subresource, like `status`.
    pub subresource: String,
    /// Namespace (empty when none).
    pub namespace: String,
    /// Object name (empty when none).
    pub name: String,
    /// `fieldManager` query parameter (empty when none).
    pub field_manager: String,
    /// The `User-Agent` header (empty when none): tells one client's requests from
    /// another's, e.g. to compare what a process uses with its RBAC.
    pub user_agent: String,
    /// HTTP status code of the answer.
    pub code: u16,
    /// When the request arrived (monotonic).
    pub at: Instant,
    /// When the request arrived (wall clock).
    pub wall_time: SystemTime,
}

impl RequestRecord {
    /// Whether the request could change state (anything but get, list, watch, discovery).
    pub fn is_write(&self) -> bool {
        !matches!(self.verb.as_str(), "get" | "list" | "watch" | "discovery")
    }
}

/// The request log; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct RequestLog {
    records: Arc<Mutex<Vec<RequestRecord>>>,
}

impl RequestLog {
    /// The records, also after a panic elsewhere while they were held (a log stays
    /// readable).
    fn lock(&self) -> MutexGuard<'_, Vec<RequestRecord>> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn push(&self, record: RequestRecord) {
        self.lock().push(record);
    }

    /// Every request so far.
    pub fn all(&self) -> Vec<RequestRecord> {
        self.lock().clone()
    }

    /// Requests that arrived at or after `since`.
    pub fn since(&self, since: Instant) -> Vec<RequestRecord> {
        self.all().into_iter().filter(|r| r.at >= since).collect()
    }

    /// Number of writes (non-read verbs) that arrived at or after `since`.
    pub fn writes_since(&self, since: Instant) -> usize {
        self.since(since).iter().filter(|r| r.is_write()).count()
    }

    /// Forgets every record.
    pub fn clear(&self) {
        self.lock().clear();
    }
}
