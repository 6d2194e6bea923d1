//! The part of a live child that drift detection reads: the fields tiered's own
//! server-side apply owns, as its `managedFields` entry lists them (`fieldsV1`), cut out
//! of the live object, and whether a desired object is contained in it ([`is_subset`];
//! when not, [`differences`] names the fields for the Event). Both sit here below the
//! controllers so that the runtime's caches and the TieredApp apply step share them. Pure.
//!
//! The TieredApp controller re-applies a child when a field it sets differs from the live
//! object ([`is_subset`] of the desired
//! object in the live one). It compares only when the live object carries the hash of
//! the same desired object, i.e. when the last apply of ours sent exactly these fields,
//! so they are the fields our entry lists; a field someone else changed since has moved
//! to their entry (or is shared, when they wrote the same value), and is missing from
//! the cut, so the comparison still fails and the field is put back. Everything else in
//! a live object (defaults the API server filled in, fields of other managers) is never
//! compared. The operator benchmark's peak RSS did not move measurably with the cut
//! alone (86.6 MiB at 1,000 apps against 83.3–83.9 MiB before, on an older main); with
//! the smaller cached form of [`crate::runtime::cached`] it is 71 MiB, and the RSS at
//! rest equals the peak (README "Benchmarks").

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use serde_json::{Map, Value};

/// `fieldsV1` of the entry of `manager`'s server-side apply (`operation: Apply`, no
/// subresource) in `managed_fields`, if there is one.
pub fn applied_fields<'a>(managed_fields: &'a Value, manager: &str) -> Option<&'a Value> {
    managed_fields.as_array()?.iter().find_map(|entry| {
        let ours = entry["manager"] == manager
            && entry["operation"] == "Apply"
            && entry
                .get("subresource")
                .is_none_or(|s| s.as_str().is_none_or(str::is_empty));
        ours.then(|| entry.get("fieldsV1")).flatten()
    })
}

/// `live` cut down to the fields in `fields` (a `fieldsV1` set: `f:<name>` for a field,
/// `k:<json>` for the list item with those key fields, `v:<json>` for a set item,
/// `i:<n>` for a list position, `.` for the item itself). A field listed without
/// children is kept whole; list items keep their live order.
pub fn project(live: &Value, fields: &Value) -> Value {
    let Some(set) = fields.as_object().filter(|set| !set.is_empty()) else {
        return live.clone();
    };
    match live {
        Value::Object(object) => {
            let kept: Map<String, Value> = object
                .iter()
                .filter_map(|(name, value)| {
                    let children = set.get(&format!("f:{name}"))?;
                    Some((name.clone(), project(value, children)))
                })
                .collect();
            Value::Object(kept)
        }
        Value::Array(items) => {
            let entries = ItemEntries::parse(set);
            Value::Array(
                items
                    .iter()
                    .enumerate()
                    .filter_map(|(index, item)| {
                        let children = entries.find(index, item)?;
                        Some(project(item, children))
                    })
                    .collect(),
            )
        }
        _ => live.clone(),
    }
}

/// `value` as compact JSON with every map's keys sorted: equal for equal values.
fn canonical(mut value: Value) -> String {
    value.sort_all_objects();
    value.to_string()
}

/// The list-item entries of one `fieldsV1` set, each parsed once. A list of n items
/// has n entries: matching each item by parsing and scanning every entry cost n²
/// parses, about a minute of CPU for a tier with 5,000 env variables, during which the
/// Deployment cache (shared by every app) took no other event. `k:` entries are found
/// by their key: the item's values of the key's field names, in canonical JSON.
struct ItemEntries<'a> {
    /// `k:` entries by their key (canonical JSON of the key's fields and values).
    keys: HashMap<String, &'a Value>,
    /// The distinct field-name sets of the `k:` keys, sorted (one for a list map).
    key_names: Vec<Vec<String>>,
    /// `v:` entries: set items by value.
    values: Vec<(Value, &'a Value)>,
    /// `i:` entries: items by position.
    positions: BTreeMap<usize, &'a Value>,
}

impl<'a> ItemEntries<'a> {
    fn parse(set: &'a Map<String, Value>) -> Self {
        let mut entries = Self {
            keys: HashMap::new(),
            key_names: Vec::new(),
            values: Vec::new(),
            positions: BTreeMap::new(),
        };
        for (path, children) in set {
            let (Some(kind), Some(text)) = (path.get(..2), path.get(2..)) else {
                continue;
            };
            #[cfg(test)]
            tests::ENTRIES_READ.with(|read| read.set(read.get() + 1));
            match kind {
                "k:" => {
                    if let Ok(key) = serde_json::from_str::<Map<String, Value>>(text) {
                        let mut names: Vec<String> = key.keys().cloned().collect();
                        names.sort();
                        if !entries.key_names.contains(&names) {
                            entries.key_names.push(names);
                        }
                        let key = canonical(Value::Object(key));
                        entries.keys.entry(key).or_insert(children);
                    }
                }
                "v:" => {
                    if let Ok(value) = serde_json::from_str::<Value>(text) {
                        entries.values.push((value, children));
                    }
                }
                "i:" => {
                    if let Ok(position) = text.parse::<usize>() {
                        entries.positions.insert(position, children);
                    }
                }
                _ => {}
            }
        }
        entries
    }

    /// The children of the entry that names list item `item` at `index`.
    fn find(&self, index: usize, item: &Value) -> Option<&'a Value> {
        self.key_names
            .iter()
            .find_map(|names| {
                let key = names
                    .iter()
                    .map(|name| Some((name.clone(), item.get(name)?.clone())))
                    .collect::<Option<Map<String, Value>>>()?;
                self.keys.get(&canonical(Value::Object(key))).copied()
            })
            .or_else(|| {
                (self.values.iter())
                    .find_map(|(value, children)| (value == item).then_some(*children))
            })
            .or_else(|| self.positions.get(&index).copied())
    }
}

/// Whether `desired` is contained in `live`: every field `desired` sets has the same
/// value in `live`; list items match the live items at the same position (server-side
/// apply keeps their order). Empty desired values match absent
/// ones (the API server drops them).
pub fn is_subset(desired: &Value, live: Option<&Value>) -> bool {
    match (desired, live) {
        (Value::Null, None) => true,
        (Value::Object(d), None) => d.is_empty(),
        (Value::Array(d), None) => d.is_empty(),
        (_, None) => false,
        (Value::Object(d), Some(Value::Object(l))) => {
            d.iter().all(|(key, value)| is_subset(value, l.get(key)))
        }
        (Value::Array(d), Some(Value::Array(l))) => {
            d.len() <= l.len()
                && d.iter()
                    .zip(l.iter())
                    .all(|(dv, lv)| is_subset(dv, Some(lv)))
        }
        (d, Some(l)) => d == l,
    }
}

/// The fields of `desired` (in its order) whose values `live` does not contain, by the
/// rules of [`is_subset`], at most `limit` of them: each field's path (`spec.replicas`,
/// `spec.template.spec.containers[0].image`) and its desired value; empty when
/// `desired` is contained in `live`. A field whose whole value differs (a list that lost
/// entries, a value of another type) is one entry, not one per field inside it. For the
/// Event that says what a re-apply put back.
pub fn differences<'a>(
    desired: &'a Value,
    live: Option<&Value>,
    limit: usize,
) -> Vec<(String, &'a Value)> {
    let mut found = Vec::new();
    if limit > 0 {
        differences_at(&mut String::new(), desired, live, limit, &mut found);
    }
    found
}

fn differences_at<'a>(
    path: &mut String,
    desired: &'a Value,
    live: Option<&Value>,
    limit: usize,
    found: &mut Vec<(String, &'a Value)>,
) {
    let start = path.len();
    match (desired, live) {
        (Value::Object(d), Some(Value::Object(l))) => {
            for (key, value) in d {
                if found.len() == limit {
                    break;
                }
                path.truncate(start);
                if start > 0 {
                    path.push('.');
                }
                path.push_str(key);
                differences_at(path, value, l.get(key), limit, found);
            }
        }
        (Value::Array(d), Some(Value::Array(l))) if d.len() <= l.len() => {
            for (index, (dv, lv)) in d.iter().zip(l).enumerate() {
                if found.len() == limit {
                    break;
                }
                path.truncate(start);
                let _ = write!(path, "[{index}]");
                differences_at(path, dv, Some(lv), limit, found);
            }
        }
        _ => {
            if !is_subset(desired, live) {
                found.push((path.clone(), desired));
            }
        }
    }
    path.truncate(start);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment() -> Value {
        json!({
            "metadata": {"name": "shop-web", "managedFields": [
                {"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:spec": {"f:paused": {}}}},
                {"manager": "tiered", "operation": "Apply", "subresource": "status", "fieldsV1": {"f:status": {}}},
                {"manager": "tiered", "operation": "Apply", "fieldsV1": {"f:spec": {
                    "f:selector": {},
                    "f:template": {"f:spec": {"f:containers": {
                        "k:{\"name\":\"web\"}": {".": {}, "f:name": {}, "f:image": {}, "f:ports": {
                            "k:{\"containerPort\":8080,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}
                        }}
                    }}}
                }}}
            ]},
            "spec": {
                "paused": false,
                "revisionHistoryLimit": 10,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"spec": {
                    "dnsPolicy": "ClusterFirst",
                    "containers": [
                        {"name": "sidecar", "image": "envoy"},
                        {"name": "web", "image": "web:1", "imagePullPolicy": "IfNotPresent",
                         "ports": [{"containerPort": 8080, "protocol": "TCP"}]}
                    ]
                }}
            }
        })
    }

    #[test]
    fn our_apply_entry_is_found_and_other_entries_are_not() {
        let live = deployment();
        let fields = applied_fields(&live["metadata"]["managedFields"], "tiered").unwrap();
        assert!(fields["f:spec"].get("f:template").is_some());
        assert!(applied_fields(&live["metadata"]["managedFields"], "kubectl").is_none());
        assert!(applied_fields(&json!(null), "tiered").is_none());
    }

    #[test]
    fn the_cut_keeps_our_fields_whole_and_drops_defaults_and_other_managers_fields() {
        let live = deployment();
        let fields = applied_fields(&live["metadata"]["managedFields"], "tiered").unwrap();
        let cut = project(&live["spec"], &fields["f:spec"]);
        assert_eq!(
            cut,
            json!({
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"spec": {"containers": [
                    {"name": "web", "image": "web:1", "ports": [{"containerPort": 8080}]}
                ]}}
            })
        );
    }

    #[test]
    fn the_cut_answers_the_drift_question_as_the_whole_object_does() {
        let live = deployment();
        let fields = applied_fields(&live["metadata"]["managedFields"], "tiered").unwrap();
        let cut = json!({"spec": project(&live["spec"], &fields["f:spec"])});
        let desired = |image: &str| {
            json!({"spec": {"selector": {"matchLabels": {"app": "web"}},
                "template": {"spec": {"containers": [{"name": "web", "image": image,
                    "ports": [{"containerPort": 8080}]}]}}}})
        };
        assert!(is_subset(&desired("web:1"), Some(&cut)));
        assert!(!is_subset(&desired("web:2"), Some(&cut)));
        let mut taken = fields.clone();
        taken["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"]
            .as_object_mut()
            .unwrap()
            .remove("f:image");
        let cut = json!({"spec": project(&live["spec"], &taken["f:spec"])});
        assert!(
            !is_subset(&desired("web:1"), Some(&cut)),
            "a field another manager took is missing, so it is applied again"
        );
    }

    thread_local! {
        /// How many `fieldsV1` list-item entries this thread has read: the work of
        /// cutting a list, counted instead of timed (benchmarks print figures; tests do
        /// not time).
        pub(super) static ENTRIES_READ: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    #[test]
    fn a_list_of_many_items_is_cut_reading_each_entry_once() {
        // A tier with 5,000 env variables: matching each item against every entry read
        // (and parsed) 12.5 million entries, about a minute of CPU per Deployment event
        // in a debug build, while the shared Deployment cache took no other event (found
        // by the outside trial). Indexed, each entry is read once per list.
        let count = 5_000;
        let env: Vec<Value> = (0..count)
            .map(|i| json!({"name": format!("VAR_{i}"), "value": "x"}))
            .collect();
        let mut fields = Map::new();
        for i in 0..count {
            fields.insert(
                format!("k:{{\"name\":\"VAR_{i}\"}}"),
                json!({".": {}, "f:name": {}, "f:value": {}}),
            );
        }
        let live = json!({"env": env, "other": 1});
        ENTRIES_READ.with(|read| read.set(0));
        let cut = project(&live, &json!({"f:env": Value::Object(fields)}));
        assert_eq!(ENTRIES_READ.with(std::cell::Cell::get), count);
        assert_eq!(cut, json!({"env": live["env"]}));
    }

    #[test]
    fn set_and_position_items_are_found() {
        let live = json!(["a", "b", {"x": 1, "y": 2}]);
        let fields = json!({"v:\"b\"": {}, "i:2": {"f:x": {}}});
        assert_eq!(project(&live, &fields), json!(["b", {"x": 1}]));
    }

    #[test]
    fn items_are_found_by_keys_of_different_fields_and_key_order() {
        // Keys of two field-name sets in one list, a key written in another field order
        // than the item, and an item no entry names.
        let live = json!([
            {"containerPort": 80, "protocol": "TCP", "name": "http"},
            {"name": "metrics", "port": 9090},
            {"containerPort": 81, "protocol": "UDP"}
        ]);
        let fields = json!({
            "k:{\"protocol\":\"TCP\",\"containerPort\":80}": {"f:name": {}},
            "k:{\"name\":\"metrics\"}": {"f:port": {}}
        });
        assert_eq!(
            project(&live, &fields),
            json!([{"name": "http"}, {"port": 9090}])
        );
    }

    #[test]
    fn the_differences_name_each_field_path_and_its_desired_value() {
        let desired = json!({
            "metadata": {"labels": {"app": "shop"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [
                {"name": "web", "image": "web:2", "ports": [{"containerPort": 8080}]}
            ]}}}
        });
        let same = desired.clone();
        assert_eq!(differences(&desired, Some(&same), 8), []);
        // `kubectl scale` moved replicas to its own managedFields entry: absent from the cut.
        let mut scaled = desired.clone();
        scaled["spec"].as_object_mut().unwrap().remove("replicas");
        assert_eq!(
            differences(&desired, Some(&scaled), 8),
            [("spec.replicas".to_owned(), &json!(2))]
        );
        // `kubectl edit` of the image and a label: both, in the object's order.
        let mut edited = desired.clone();
        edited["spec"]["template"]["spec"]["containers"][0]["image"] = json!("web:1");
        edited["metadata"]["labels"]["app"] = json!("other");
        let both = [
            ("metadata.labels.app".to_owned(), &json!("shop")),
            (
                "spec.template.spec.containers[0].image".to_owned(),
                &json!("web:2"),
            ),
        ];
        assert_eq!(differences(&desired, Some(&edited), 8), both);
        assert_eq!(differences(&desired, Some(&edited), 1), both[..1]);
        assert_eq!(differences(&desired, Some(&edited), 0), []);
        // A list that lost an entry differs as a whole.
        let mut fewer = desired.clone();
        fewer["spec"]["template"]["spec"]["containers"] = json!([]);
        let containers = &desired["spec"]["template"]["spec"]["containers"];
        assert_eq!(
            differences(&desired, Some(&fewer), 8),
            [("spec.template.spec.containers".to_owned(), containers)]
        );
        assert_eq!(differences(&desired, None, 8), [(String::new(), &desired)]);
    }
}
