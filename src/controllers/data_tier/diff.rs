//! Desired vs observed of what every data-tier resource has in common: its tags. The
//! kinds' own fields are diffed in each kind's `diff`. Pure.

use std::collections::BTreeMap;

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
