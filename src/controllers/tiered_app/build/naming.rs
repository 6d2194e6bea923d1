//! Names of the objects tiered builds for a TieredApp, the DNS rules they must obey, and
//! [`label_value`], which turns any object name into a label value the API server
//! accepts (the data-tier controllers use it for their connection Secrets too). Pure
//! string functions, shared by validation and the builders.

use sha2::{Digest, Sha256};

/// Longest DNS label (and label value) Kubernetes accepts.
pub const MAX_LABEL_LENGTH: usize = 63;
/// Longest DNS-1123 subdomain, i.e. object name of most kinds (Secrets, Deployments).
pub const MAX_NAME_LENGTH: usize = 253;
/// Hex characters of the hash that ends a shortened label value.
const LABEL_HASH_LENGTH: usize = 10;

/// Name of every child object of a tier: `<app>-<tier>`.
pub fn child_name(app: &str, tier: &str) -> String {
    format!("{app}-{tier}")
}

/// Name of the connection Secret a ManagedDatabase or CacheCluster writes:
/// `<name>-connection`.
pub fn connection_secret_name(data_tier_object: &str) -> String {
    format!("{data_tier_object}-connection")
}

/// Whether `name` is a DNS-1035 label (what Service names must be): 1 to 63 lowercase
/// letters, digits and `-`, starting with a letter and ending with a letter or digit.
pub fn is_dns1035_label(name: &str) -> bool {
    name.len() <= MAX_LABEL_LENGTH
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && is_label_body(name)
}

/// Whether `name` is a DNS-1123 subdomain (what most object names must be): at most 253
/// characters, parts of lowercase letters, digits and `-` joined by `.`, each starting and
/// ending with a letter or digit. As in apimachinery, a part may pass 63 characters.
pub fn is_dns1123_subdomain(name: &str) -> bool {
    name.len() <= MAX_NAME_LENGTH
        && name.split('.').all(|part| {
            part.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && is_label_body(part)
        })
}

/// A label value that stands for `text`: `text` itself when it is a valid label value
/// (at most 63 characters, `[-_.A-Za-z0-9]`, alphanumeric at both ends, or empty);
/// otherwise its first valid characters, `-` and 10 hex characters of its SHA-256, in at
/// most 63 characters. Deterministic, so selectors built from the same name match, and
/// two long names that share a prefix still get different values. Object names may have
/// 253 characters, label values only 63 (apimachinery `IsValidLabelValue`): a longer
/// value makes the API server refuse the whole object.
pub fn label_value(text: &str) -> String {
    if is_label_value(text) {
        return text.to_owned();
    }
    let hash = hex::encode(Sha256::digest(text.as_bytes()));
    let hash = &hash[..LABEL_HASH_LENGTH];
    let prefix: String = text
        .chars()
        .filter(|c| is_label_char(*c))
        .skip_while(|c| !c.is_ascii_alphanumeric())
        .take(MAX_LABEL_LENGTH - LABEL_HASH_LENGTH - 1)
        .collect();
    let prefix = prefix.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    if prefix.is_empty() {
        hash.to_owned()
    } else {
        format!("{prefix}-{hash}")
    }
}

/// Whether `value` is a valid label value: empty, or at most 63 characters of
/// `[-_.A-Za-z0-9]` that start and end with a letter or digit.
pub fn is_label_value(value: &str) -> bool {
    value.is_empty()
        || (value.len() <= MAX_LABEL_LENGTH
            && value.chars().all(is_label_char)
            && value.starts_with(|c: char| c.is_ascii_alphanumeric())
            && value.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

fn is_label_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

fn is_label_body(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns1035_labels_start_with_a_letter_and_fit_in_63_characters() {
        assert!(is_dns1035_label("newsread-web"));
        assert!(is_dns1035_label(&"a".repeat(63)));
        for bad in ["", "1web", "web-", "Web", "we.b", "we_b", &"a".repeat(64)] {
            assert!(!is_dns1035_label(bad), "{bad:?}");
        }
    }

    #[test]
    fn dns1123_subdomains_allow_dots_and_leading_digits() {
        assert!(is_dns1123_subdomain("news.example.com"));
        assert!(is_dns1123_subdomain("1db"));
        assert!(
            is_dns1123_subdomain(&"a".repeat(253)),
            "no 63 limit per part"
        );
        for bad in ["", ".a", "a..b", "a-.b", "A.b", &"a".repeat(254)] {
            assert!(!is_dns1123_subdomain(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_valid_label_value_is_kept_as_it_is() {
        for value in ["", "newsread", "a.b_c-d", "A1", &"a".repeat(63)] {
            assert_eq!(label_value(value), value);
            assert!(is_label_value(value), "{value:?}");
        }
    }

    #[test]
    fn a_long_or_odd_name_becomes_a_valid_hashed_label_value() {
        let long = format!("{}.example", "a".repeat(60));
        let value = label_value(&long);
        assert_eq!(value.len(), 63);
        assert!(value.starts_with(&"a".repeat(52)), "{value}");
        assert!(is_label_value(&value), "{value}");
        assert_eq!(label_value(&long), value, "deterministic");
        let other = format!("{}.exampla", "a".repeat(60));
        assert_ne!(label_value(&other), value, "same prefix, other name");
        // A prefix that would end in '.' or '-' is trimmed before the hash.
        let dotted = format!("{}.{}", "b".repeat(52), "c".repeat(20));
        let value = label_value(&dotted);
        assert!(
            value.starts_with(&format!("{}-", "b".repeat(52))),
            "{value}"
        );
        assert!(is_label_value(&value), "{value}");
        for odd in [
            "-a",
            "a-",
            "é",
            "a b",
            ".",
            &"-".repeat(300),
            &"ü".repeat(70),
        ] {
            let value = label_value(odd);
            assert!(
                is_label_value(&value) && !value.is_empty(),
                "{odd:?} gave {value:?}"
            );
        }
    }

    #[test]
    fn label_values_follow_apimachinery() {
        for bad in ["-a", "a-", "_a", "a.", "a b", "é", &"a".repeat(64)] {
            assert!(!is_label_value(bad), "{bad:?}");
        }
    }

    #[test]
    fn children_and_secrets_are_named_after_their_owner() {
        assert_eq!(child_name("newsread", "web"), "newsread-web");
        assert_eq!(
            connection_secret_name("newsread-db"),
            "newsread-db-connection"
        );
    }
}
