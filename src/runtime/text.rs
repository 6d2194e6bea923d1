//! Cutting text the operator writes to the API server's limit for that field, on a char
//! boundary, so that no user text (names, AWS messages, multi-byte characters) can make a
//! write fail or the process panic; and the wording of who holds a conflicting object. Pure.
//!
//! Limits, from apimachinery: an `events.k8s.io/v1` Event's `note` is at most 1 KiB
//! (`NoteLengthLimit = 1024`, k8s.io/kubernetes pkg/apis/events/validation); a
//! `metav1.Condition`'s `message` at most 32 KiB (`maxLength: 32768` in its OpenAPI
//! schema, k8s.io/apimachinery pkg/apis/meta/v1/types.go).

/// Bytes of an Event `note` the API server accepts.
pub const EVENT_NOTE_MAX_BYTES: usize = 1024;
/// Bytes of a condition `message` the API server accepts.
pub const CONDITION_MESSAGE_MAX_BYTES: usize = 32 * 1024;

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
    }
}
