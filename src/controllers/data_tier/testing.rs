//! What the unit tests of the data-tier kinds share: assertions on the messages
//! people read (error reasons, condition messages). Test builds only.

/// Asserts that `text` (a message a person reads) contains each of `words`.
///
/// # Panics
/// When a word is missing, naming the word and showing the whole text.
#[track_caller]
pub fn assert_mentions(text: &str, words: &[&str]) {
    for word in words {
        assert!(text.contains(word), "{word:?} is missing from {text:?}");
    }
}
