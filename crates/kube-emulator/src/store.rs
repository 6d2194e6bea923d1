//! Object storage: every object as JSON, one global `resourceVersion` counter bumped on
//! each write, an index of stored `metadata.uid`s (the garbage collector's owner look-up),
//! a bounded history of watch events for resuming watches, and a broadcast of new events
//! to open watches. Knows nothing about HTTP.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::broadcast;

use super::resources::Registry;

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Removed for good.
    Deleted,
}

impl EventType {
    /// The `type` of a watch event.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One stored change, as watches replay it.
#[derive(Debug, Clone)]
pub struct Change {
    /// The `resourceVersion` this write produced.
    pub rv: u64,
    /// [`super::resources::ResourceType::store_key`] of the object.
    pub key: String,
    /// Namespace (`""` for cluster-scoped).
    pub namespace: String,
    /// Kind of change.
    pub event: EventType,
    /// The object after the change (for deletions: its last state, with the deletion's RV).
    pub object: Arc<Value>,
    /// For modifications: the object before the change (watch selectors need it).
    pub previous: Option<Arc<Value>>,
}

/// Objects of one resource, by (namespace, name).
pub type Bucket = BTreeMap<(String, String), Value>;

/// Everything the emulator stores, behind one lock.
#[derive(Debug)]
pub struct World {
    /// Served kinds.
    pub registry: Registry,
    objects: HashMap<String, Bucket>,
    /// `metadata.uid` of every stored object: its store key, namespace and name.
    uids: HashMap<String, (String, String, String)>,
    rv: u64,
    history: VecDeque<Arc<Change>>,
    history_limit: usize,
    /// RV of the oldest change that fell out of the history (0: nothing fell out).
    compacted: u64,
    events: broadcast::Sender<Arc<Change>>,
    uid_counter: u64,
    cluster_ips: u32,
}

/// The shared store.
#[derive(Debug)]
pub struct Store {
    world: Mutex<World>,
}

impl Store {
    /// An empty store keeping the last `history_limit` changes.
    pub fn new(history_limit: usize) -> Self {
        let (events, _) = broadcast::channel(history_limit.max(1024));
        Self {
            world: Mutex::new(World {
                registry: Registry::default(),
                objects: HashMap::new(),
                uids: HashMap::new(),
                rv: 1,
                history: VecDeque::new(),
                history_limit: history_limit.max(1),
                compacted: 0,
                events,
                uid_counter: 0,
                cluster_ips: 0,
            }),
        }
    }

    /// Locks the world. A poisoned lock (a panic elsewhere) still yields the data.
    pub fn lock(&self) -> MutexGuard<'_, World> {
        self.world
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl World {
    /// The latest `resourceVersion`.
    pub fn current_rv(&self) -> u64 {
        self.rv
    }

    /// The objects of one resource.
    pub fn bucket(&self, key: &str) -> Option<&Bucket> {
        self.objects.get(key)
    }

    /// One object.
    pub fn get(&self, key: &str, namespace: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(key)?
            .get(&(namespace.to_owned(), name.to_owned()))
    }

    /// Every stored object with its store key.
    pub fn iter_all(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.objects
            .iter()
            .flat_map(|(k, b)| b.values().map(move |v| (k, v)))
    }

    /// The store key, namespace and name of the stored object whose `metadata.uid` is
    /// `uid`, found through an index (no scan of the store).
    pub fn by_uid(&self, uid: &str) -> Option<(&str, &str, &str)> {
        self.uids
            .get(uid)
            .map(|(key, namespace, name)| (key.as_str(), namespace.as_str(), name.as_str()))
    }

    /// Whether a name is free.
    pub fn contains(&self, key: &str, namespace: &str, name: &str) -> bool {
        self.get(key, namespace, name).is_some()
    }

    /// Stores `object` with a fresh `resourceVersion` and records the change.
    pub fn put(&mut self, key: &str, namespace: &str, name: &str, mut object: Value) -> Value {
        self.rv += 1;
        object["metadata"]["resourceVersion"] = Value::String(self.rv.to_string());
        let bucket = self.objects.entry(key.to_owned()).or_default();
        let previous = bucket.insert((namespace.to_owned(), name.to_owned()), object.clone());
        let uid = object_uid(&object);
        if previous.as_ref().map(object_uid) != Some(uid) {
            if let Some(old) = previous.as_ref().map(object_uid).filter(|u| !u.is_empty()) {
                self.uids.remove(old);
            }
            if !uid.is_empty() {
                self.uids.insert(
                    uid.to_owned(),
                    (key.to_owned(), namespace.to_owned(), name.to_owned()),
                );
            }
        }
        let event = if previous.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.record(key, namespace, event, object.clone(), previous);
        object
    }

    /// Removes an object for good, recording a `DELETED` change with a fresh RV.
    pub fn remove(&mut self, key: &str, namespace: &str, name: &str) -> Option<Value> {
        let mut object = self
            .objects
            .get_mut(key)?
            .remove(&(namespace.to_owned(), name.to_owned()))?;
        self.uids.remove(object_uid(&object));
        self.rv += 1;
        object["metadata"]["resourceVersion"] = Value::String(self.rv.to_string());
        self.record(key, namespace, EventType::Deleted, object.clone(), None);
        Some(object)
    }

    /// Drops a whole resource (a deleted CRD's objects), recording a `DELETED` each.
    pub fn remove_bucket(&mut self, key: &str) {
        let names: Vec<(String, String)> = self
            .objects
            .get(key)
            .map(|b| b.keys().cloned().collect())
            .unwrap_or_default();
        for (ns, name) in names {
            self.remove(key, &ns, &name);
        }
        self.objects.remove(key);
    }

    fn record(
        &mut self,
        key: &str,
        namespace: &str,
        event: EventType,
        object: Value,
        previous: Option<Value>,
    ) {
        let change = Arc::new(Change {
            rv: self.rv,
            key: key.to_owned(),
            namespace: namespace.to_owned(),
            event,
            object: Arc::new(object),
            previous: previous.map(Arc::new),
        });
        if self.history.len() >= self.history_limit
            && let Some(old) = self.history.pop_front()
        {
            self.compacted = old.rv;
        }
        self.history.push_back(Arc::clone(&change));
        // No receivers is fine: nobody watches.
        let _ = self.events.send(change);
    }

    /// Changes after `rv` for a resource, or `Err(oldest)` when some fell out of the history.
    pub fn changes_since(&self, rv: u64, key: &str) -> Result<Vec<Arc<Change>>, u64> {
        if rv < self.compacted {
            let oldest = self.history.front().map_or(self.rv, |c| c.rv);
            return Err(oldest);
        }
        Ok(self
            .history
            .iter()
            .filter(|c| c.rv > rv && c.key == key)
            .cloned()
            .collect())
    }

    /// A receiver of changes made after this call.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.events.subscribe()
    }

    /// The next free Service cluster IP, from `10.96.0.0/12` (the default service CIDR),
    /// skipping the network address and `10.96.0.1` (the `kubernetes` Service's).
    pub fn next_cluster_ip(&mut self) -> String {
        self.cluster_ips += 1;
        let host = (self.cluster_ips % ((1 << 20) - 2)) + 1;
        let address = (10u32 << 24) | (96 << 16) | host;
        std::net::Ipv4Addr::from(address).to_string()
    }

    /// A fresh random-looking v4 UUID.
    pub fn new_uid(&mut self) -> String {
        use std::hash::{BuildHasher, Hasher};
        self.uid_counter += 1;
        let mut words = [0u64; 2];
        for (i, w) in words.iter_mut().enumerate() {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(self.uid_counter);
            h.write_usize(i);
            *w = h.finish();
        }
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&words[0].to_be_bytes());
        bytes[8..].copy_from_slice(&words[1].to_be_bytes());
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        let hex = hex::encode(bytes);
        format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        )
    }
}

/// `metadata.uid` of an object (`""` when it has none).
fn object_uid(object: &Value) -> &str {
    object["metadata"]["uid"].as_str().unwrap_or_default()
}

/// `metadata.namespace` and `metadata.name` of an object.
pub fn namespace_and_name(object: &Value) -> (String, String) {
    let meta = &object["metadata"];
    (
        meta["namespace"].as_str().unwrap_or_default().to_owned(),
        meta["name"].as_str().unwrap_or_default().to_owned(),
    )
}

/// The current time as the API server writes timestamps (`2024-01-02T03:04:05Z`).
pub fn now_timestamp() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::Store;

    #[test]
    fn the_uid_index_follows_puts_and_removals() {
        let store = Store::new(10);
        let mut world = store.lock();
        let object = |uid: &str| json!({"metadata": {"name": "a", "namespace": "ns", "uid": uid}});
        world.put("/secrets", "ns", "a", object("u1"));
        assert_eq!(world.by_uid("u1"), Some(("/secrets", "ns", "a")));

        world.put("/secrets", "ns", "a", object("u1"));
        assert_eq!(world.by_uid("u1"), Some(("/secrets", "ns", "a")));
        world.put("/secrets", "ns", "a", object("u2"));
        assert_eq!(world.by_uid("u1"), None);
        assert_eq!(world.by_uid("u2"), Some(("/secrets", "ns", "a")));

        world.remove("/secrets", "ns", "a");
        assert_eq!(world.by_uid("u2"), None);
        world.put("/secrets", "ns", "b", object("u3"));
        world.remove_bucket("/secrets");
        assert_eq!(world.by_uid("u3"), None);
    }
}
