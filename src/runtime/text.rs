//! Cutting text the operator writes to the API server's limit for that field, on a char
//! boundary, so that no user text (names, AWS messages, multi-byte characters) can make a
//! write fail or the process panic; names cut to a limit so that two long ones still
//! differ; and the wording of who holds a conflicting object. Pure.
//!
//! Limits, from apimachinery: an `events.k8s.io/v1` Event's `note` is at most 1 KiB
//! (`NoteLengthLimit = 1024`, k8s.io/kubernetes pkg/apis/events/validation) and its
//! `reportingInstance` at most 128 bytes (`ReportingInstanceLengthLimit`); a
//! `metav1.Condition`'s `message` at most 32 KiB (`maxLength: 32768` in its OpenAPI
//! schema, k8s.io/apimachinery pkg/apis/meta/v1/types.go).

use sha2::{Digest, Sha256};

/// Bytes of an Event `note` the API server accepts.
pub const EVENT_NOTE_MAX_BYTES: usize = 1024;
/// Bytes of a condition `message` the API server accepts.
pub const CONDITION_MESSAGE_MAX_BYTES: usize = 32 * 1024;

/// Bytes of an Event `reportingInstance` the API server accepts.
pub const EVENT_REPORTING_INSTANCE_MAX_BYTES: usize = 128;

/// What marks a cut text: an ellipsis (3 bytes in UTF-8).
const ELLIPSIS: char = '…';

/// `text` cut to at most `max_bytes` bytes of UTF-8, never inside a character; a cut
/// text ends in `…` (counted in the limit). Text within the limit is returned as is.
pub fn truncated(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_owned();
    }
    let room = max_bytes.saturating_sub(ELLIPSIS.len_utf8());
    let mut end = room.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut cut = String::with_capacity(end + ELLIPSIS.len_utf8());
    cut.push_str(&text[..end]);
    if max_bytes >= ELLIPSIS.len_utf8() {
        cut.push(ELLIPSIS);
    }
    cut
}

/// Bytes [`distinct_within`] adds after a cut name: `-` and 16 hex digits.
const DIGEST_SUFFIX_BYTES: usize = 1 + 16;

/// `name` as is when it is at most `max_bytes` bytes and every character passes `keep`;
/// otherwise the characters that pass `keep`, cut to leave room, then `-` and the first 16
/// hex digits of the SHA-256 of the whole `name`, so that two names that differ only past
/// the cut (or in a dropped character) still differ. The result is at most `max_bytes`
/// bytes when `max_bytes` is at least 17 (the suffix alone otherwise).
pub fn distinct_within(name: &str, max_bytes: usize, keep: impl Fn(char) -> bool) -> String {
    if name.len() <= max_bytes && name.chars().all(&keep) {
        return name.to_owned();
    }
    let digest = hex::encode(&Sha256::digest(name.as_bytes())[..8]);
    let room = max_bytes.saturating_sub(DIGEST_SUFFIX_BYTES);
    let mut kept = String::new();
    for c in name.chars().filter(|c| keep(*c)) {
        if kept.len() + c.len_utf8() > room {
            break;
        }
        kept.push(c);
    }
    format!("{kept}-{digest}")
}

/// `is owned by Kind/name`, or `is not managed by tiered` for an object no controller
/// owns, after "already exists and" in conflict messages.
pub fn held_by(owner: &str) -> String {
    if owner == UNMANAGED {
        format!("is {owner}")
    } else {
        format!("is owned by {owner}")
    }
}

/// The holder of an object no controller owns, in conflict messages.
pub const UNMANAGED: &str = "not managed by tiered";

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_multi_byte_character_at_the_limit_is_not_split() {
        // 'é' is 2 bytes: 1023 bytes of 'a' then 'é' crosses the 1024-byte limit inside it.
        let text = format!("{}é and more", "a".repeat(1022));
        let cut = truncated(&text, EVENT_NOTE_MAX_BYTES);
        assert!(cut.len() <= EVENT_NOTE_MAX_BYTES);
        assert!(cut.ends_with('…'));
        assert!(cut.starts_with(&"a".repeat(1000)));
    }

    #[test]
    fn text_within_the_limit_is_unchanged() {
        assert_eq!(truncated("Ready: 3 of 3 pods", 1024), "Ready: 3 of 3 pods");
        let exact = "ü".repeat(512);
        assert_eq!(truncated(&exact, 1024), exact);
    }

    #[test]
    fn a_name_within_the_limit_is_kept_and_a_longer_one_is_cut_with_its_digest() {
        assert_eq!(distinct_within("tiered-0-1", 128, |_| true), "tiered-0-1");
        let long = format!("op-{}", "x".repeat(200));
        let cut = distinct_within(&long, 128, |_| true);
        assert_eq!(cut.len(), 128, "{cut}");
        assert!(cut.starts_with("op-xxx"), "{cut}");
        assert_ne!(cut, distinct_within(&format!("{long}y"), 128, |_| true));
        let wide = "ü".repeat(100);
        assert!(distinct_within(&wide, 128, |_| true).len() <= 128);
    }

    proptest! {
        #[test]
        fn any_text_is_cut_to_the_limit_on_a_char_boundary(text in ".{0,700}", max in 0usize..1100) {
            let cut = truncated(&text, max);
            if text.len() <= max {
                prop_assert_eq!(&cut, &text);
            } else {
                prop_assert!(cut.len() <= max);
                let kept = cut.strip_suffix('…').unwrap_or(&cut);
                prop_assert!(text.starts_with(kept));
            }
        }

        #[test]
        fn any_name_is_brought_within_the_limit(name in ".{0,300}", max in 17usize..300) {
            let bounded = distinct_within(&name, max, |c| !c.is_control());
            prop_assert!(bounded.len() <= max);
            prop_assert!(!bounded.chars().any(char::is_control));
        }
    }
}
