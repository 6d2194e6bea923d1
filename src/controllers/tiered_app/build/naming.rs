//! Names of the objects tiered builds for a TieredApp and the DNS rules they must obey.
//! Pure string functions, shared by validation and the builders.

/// Longest DNS label (and label value) Kubernetes accepts.
pub const MAX_LABEL_LENGTH: usize = 63;

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

/// Whether `name` is a DNS-1123 subdomain (what most object names must be).
pub fn is_dns1123_subdomain(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|part| {
            part.len() <= MAX_LABEL_LENGTH
                && part.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && is_label_body(part)
        })
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
        for bad in ["", ".a", "a..b", "a-.b", "A.b", &"a".repeat(254)] {
            assert!(!is_dns1123_subdomain(bad), "{bad:?}");
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
