//! Desired vs observed of what every data-tier resource has in common: its tags. The
//! kinds' own fields are diffed in each kind's `diff`. Pure.

use std::collections::BTreeMap;

use crate::aws::tags::{TAG_KEYS, is_reserved_key, key_digest, recorded_digests};

/// The tag calls that bring a resource's tags to the desired ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagChanges {
    /// Keys to remove (RemoveTagsFromResource): user keys tiered set earlier that the
    /// spec no longer has.
    pub remove: Vec<String>,
    /// Tags to add or overwrite (AddTagsToResource), the new `tiered.io/tag-keys`
    /// record among them.
    pub add: BTreeMap<String, String>,
}

impl TagChanges {
    /// Whether nothing is to be sent.
    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.add.is_empty()
    }
}

/// What to send so that a resource tagged `current` carries `desired` (the user's tags,
/// the ownership tags and the new record, as `crate::aws::tags::resource_tags` makes
/// them). A key is removed only when the resource's own `tiered.io/tag-keys` record
/// says tiered set it and the spec no longer has it: keys someone else set (an adopted
/// resource's, a cost-allocation tag added in the console) and reserved keys
/// (`tiered.io/`, `aws:`, the ownership tags among them) are never removed. The record
/// is rewritten in the add that follows the removal, so a failed removal is retried.
pub fn tag_changes(current: &[(String, String)], desired: &BTreeMap<String, String>) -> TagChanges {
    let record = current
        .iter()
        .find(|(key, _)| key == TAG_KEYS)
        .map(|(_, value)| recorded_digests(value))
        .unwrap_or_default();
    let remove = current
        .iter()
        .map(|(key, _)| key)
        .filter(|key| !desired.contains_key(key.as_str()) && !is_reserved_key(key))
        .filter(|key| record.contains(key_digest(key).as_str()))
        .cloned()
        .collect();
    TagChanges {
        remove,
        add: missing_tags(current, desired),
    }
}

/// Tags as key and value pairs, from either SDK's `Tag` (read through its `key` and
/// `value` accessors); a tag without a value has an empty one.
pub fn tag_pairs<T>(
    tags: &[T],
    key: fn(&T) -> Option<&str>,
    value: fn(&T) -> Option<&str>,
) -> Vec<(String, String)> {
    tags.iter()
        .filter_map(|tag| {
            Some((
                key(tag)?.to_owned(),
                value(tag).unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

/// The tags of `desired` that `current` lacks or holds with another value: what a
/// claim adds (AWS' tag calls add and overwrite, they never remove).
pub fn missing_tags(
    current: &[(String, String)],
    desired: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let current: BTreeMap<&str, &str> = current
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect();
    desired
        .iter()
        .filter(|(key, value)| current.get(key.as_str()) != Some(&value.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::tags::{Owner, resource_tags};

    fn owner() -> Owner {
        Owner::for_tests()
    }

    fn user(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn pairs(tags: &BTreeMap<String, String>) -> Vec<(String, String)> {
        tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Issue 10 ("Drift converges completely": tags removed from a spec stay in AWS):
    /// a key tiered set and the spec dropped is removed, exactly that key; tags someone
    /// else set, and the ownership tags, stay.
    #[test]
    fn a_key_dropped_from_the_spec_is_removed_and_no_other() {
        let before = resource_tags(&owner(), &user(&[("team", "news"), ("cost", "42")]));
        let mut current = pairs(&before);
        current.push(("console-tag".into(), "set by a person".into()));
        current.push(("aws:cloudformation:stack-name".into(), "x".into()));
        let after = resource_tags(&owner(), &user(&[("team", "news")]));
        let changes = tag_changes(&current, &after);
        assert_eq!(changes.remove, ["cost"]);
        assert_eq!(
            changes.add.keys().map(String::as_str).collect::<Vec<_>>(),
            [TAG_KEYS],
            "only the record changes"
        );
        assert_eq!(changes.add[TAG_KEYS], key_digest("team"));
    }

    type Case = (
        &'static str,
        Vec<(String, String)>,
        &'static [(&'static str, &'static str)],
        &'static [&'static str],
        &'static [&'static str],
    );

    #[test]
    fn tag_changes_table() {
        let ours = |tags: &[(&str, &str)]| pairs(&resource_tags(&owner(), &user(tags)));
        let unrecorded = |tags: &[(&str, &str)]| {
            let mut current = ours(&[]);
            current.extend(tags.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
            current
        };
        let cases: [Case; 5] = [
            ("converged", ours(&[("a", "1")]), &[("a", "1")], &[], &[]),
            (
                "value changed",
                ours(&[("a", "1")]),
                &[("a", "2")],
                &[],
                &["a"],
            ),
            (
                "key added",
                ours(&[("a", "1")]),
                &[("a", "1"), ("b", "2")],
                &[],
                &["b", TAG_KEYS],
            ),
            (
                "all dropped",
                ours(&[("a", "1"), ("b", "2")]),
                &[],
                &["a", "b"],
                &[TAG_KEYS],
            ),
            // An adopted resource's own tags were never recorded: never removed.
            ("not ours", unrecorded(&[("legacy", "x")]), &[], &[], &[]),
        ];
        for (name, current, wanted, remove, add) in cases {
            let changes = tag_changes(&current, &resource_tags(&owner(), &user(wanted)));
            assert_eq!(changes.remove, remove, "{name}");
            assert_eq!(
                changes.add.keys().map(String::as_str).collect::<Vec<_>>(),
                add,
                "{name}"
            );
        }
        // Before the record existed (tiered before this change), nothing is removed.
        let legacy: Vec<(String, String)> = ours(&[("a", "1")])
            .into_iter()
            .filter(|(k, _)| k != TAG_KEYS)
            .collect();
        let changes = tag_changes(&legacy, &resource_tags(&owner(), &BTreeMap::new()));
        assert!(changes.remove.is_empty());
    }

    #[test]
    fn sdk_tags_become_pairs_and_keyless_ones_are_dropped() {
        use aws_sdk_rds::types::Tag;
        let tags = [
            Tag::builder().key("a").value("1").build(),
            Tag::builder().key("b").build(),
            Tag::builder().value("orphan").build(),
        ];
        assert_eq!(
            tag_pairs(&tags, Tag::key, Tag::value),
            [
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), String::new())
            ]
        );
    }

    #[test]
    fn only_absent_or_different_tags_are_missing() {
        let current = [
            ("team".to_owned(), "news".to_owned()),
            ("tiered.io/uid".to_owned(), "old".to_owned()),
            ("extra".to_owned(), "kept".to_owned()),
        ];
        let desired = BTreeMap::from([
            ("team".to_owned(), "news".to_owned()),
            ("tiered.io/uid".to_owned(), "new".to_owned()),
            ("tiered.io/name".to_owned(), "db".to_owned()),
        ]);
        let missing = missing_tags(&current, &desired);
        assert_eq!(
            missing.keys().map(String::as_str).collect::<Vec<_>>(),
            ["tiered.io/name", "tiered.io/uid"]
        );
        assert!(missing_tags(&current, &BTreeMap::new()).is_empty());
    }
}
