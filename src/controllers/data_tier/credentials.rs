//! Generated credentials: RDS master passwords and ElastiCache AUTH tokens, drawn
//! from the OS CSPRNG in the characters each service accepts. Pure apart from reading
//! the CSPRNG. Values never reach `Debug` or `Display`.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::Secret;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};

/// Length of a generated credential.
pub const GENERATED_LEN: usize = 32;

/// A password or token. `Debug` does not show it; use [`Password::expose`] where the
/// value must go (the AWS request, the Secret).
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// The value itself.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A value taken from an existing Secret.
    pub fn from_secret_value(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Reading the OS CSPRNG failed.
#[derive(Debug, thiserror::Error)]
#[error("failed to read the OS random number generator")]
pub struct RandomError(#[source] pub getrandom::Error);

/// Whether RDS accepts `c` in a master password: printable ASCII except `/`, `"`, `@`
/// and space.
pub const fn is_password_char(c: u8) -> bool {
    c.is_ascii_graphic() && !matches!(c, b'/' | b'"' | b'@')
}

/// Whether ElastiCache accepts `c` in an AUTH token. The CreateReplicationGroup
/// reference says "printable ASCII except `/`, `"`, `@`", but also "the only
/// permitted printable special characters are `!`, `&`, `#`, `$`, `^`, `<`, `>` and
/// `-`"; the stricter rule is the one that always works.
pub const fn is_auth_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'!' | b'&' | b'#' | b'$' | b'^' | b'<' | b'>' | b'-')
}

/// A new RDS master password of [`GENERATED_LEN`] characters.
pub fn generate_password() -> Result<Password, RandomError> {
    generate(GENERATED_LEN, is_password_char)
}

/// A new ElastiCache AUTH token of [`GENERATED_LEN`] characters (AWS: 16 to 128).
pub fn generate_auth_token() -> Result<Password, RandomError> {
    generate(GENERATED_LEN, is_auth_token_char)
}

/// `len` characters drawn uniformly (rejection sampling, no modulo bias) from the
/// bytes that `accept` accepts.
pub fn generate(len: usize, accept: fn(u8) -> bool) -> Result<Password, RandomError> {
    let alphabet: Vec<u8> = (0..=u8::MAX).filter(|c| accept(*c)).collect();
    let size = alphabet.len().max(1);
    // The largest multiple of the alphabet size that fits in a byte.
    let limit = 256 - 256 % size;
    let mut value = String::with_capacity(len);
    let mut buffer = [0_u8; 64];
    while value.len() < len && !alphabet.is_empty() {
        getrandom::fill(&mut buffer).map_err(RandomError)?;
        for byte in buffer {
            let index = usize::from(byte);
            if index < limit && value.len() < len {
                value.push(char::from(alphabet[index % size]));
            }
        }
    }
    Ok(Password(value))
}

/// Characters left as they are in the user and password of a URL: RFC 3986 unreserved.
pub const USERINFO: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A connection Secret, with a `Debug` that shows the keys but no values.
#[derive(Clone, PartialEq)]
pub struct ConnectionSecret(pub Secret);

impl fmt::Debug for ConnectionSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&String> = self.0.data.iter().flat_map(BTreeMap::keys).collect();
        f.debug_struct("ConnectionSecret")
            .field("name", &self.0.metadata.name)
            .field("keys", &keys)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_are_32_accepted_characters_and_differ() {
        let a = generate_password().unwrap();
        let b = generate_password().unwrap();
        assert_eq!(a.expose().len(), GENERATED_LEN);
        assert!(a.expose().bytes().all(is_password_char), "{}", a.expose());
        assert_ne!(a, b);
    }

    #[test]
    fn auth_tokens_use_only_what_elasticache_permits() {
        let token = generate_auth_token().unwrap();
        assert!((16..=128).contains(&token.expose().len()));
        assert!(token.expose().bytes().all(is_auth_token_char));
        for refused in [b'/', b'"', b'@', b' ', b'%', b':', b'?', b'~', b'\n'] {
            assert!(!is_auth_token_char(refused), "{refused}");
        }
        for accepted in *b"aZ9!&#$^<>-" {
            assert!(is_auth_token_char(accepted) && is_password_char(accepted));
        }
    }

    #[test]
    fn password_alphabet_excludes_what_rds_refuses() {
        for refused in [b'/', b'"', b'@', b' ', b'\n', 0x7f] {
            assert!(!is_password_char(refused), "{refused}");
        }
        assert!(is_password_char(b'%') && is_password_char(b'a') && is_password_char(b'~'));
    }

    #[test]
    fn debug_never_shows_the_value() {
        let shown = format!("{:?}", Password("hunter2-secret".into()));
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
