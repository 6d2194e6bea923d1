//! The connection Secret `<name>-connection` as both data-tier kinds write it (name,
//! labels, controller ownerReference; each kind fills in its own keys) and the
//! credential it keeps: RDS master passwords and ElastiCache AUTH tokens, drawn from
//! the OS CSPRNG in the characters each service accepts. Pure apart from reading the
//! CSPRNG. Values never reach `Debug` or `Display`.

use std::collections::BTreeMap;
use std::fmt;

use crate::controllers::tiered_app::build::naming::label_value;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Resource, ResourceExt};
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

/// The name of the connection Secret of the object `name`.
pub fn connection_secret_name(name: &str) -> String {
    format!("{name}-connection")
}

/// The connection Secret of `object` holding `data`: labelled as tiered's
/// `component` (`database`, `cache`) of that instance, owned (controller
/// ownerReference) by `object`.
pub fn connection_secret<K>(
    object: &K,
    component: &str,
    data: BTreeMap<String, ByteString>,
) -> ConnectionSecret
where
    K: Resource<DynamicType = ()>,
{
    let labels = BTreeMap::from([
        (
            "app.kubernetes.io/managed-by".to_owned(),
            "tiered".to_owned(),
        ),
        (
            "app.kubernetes.io/component".to_owned(),
            component.to_owned(),
        ),
        // Any object name as a valid label value (≤ 63, label syntax; else hashed).
        (
            "app.kubernetes.io/instance".to_owned(),
            label_value(&object.name_any()),
        ),
    ]);
    ConnectionSecret(Secret {
        metadata: ObjectMeta {
            name: Some(connection_secret_name(&object.name_any())),
            namespace: object.namespace(),
            labels: Some(labels),
            owner_references: object.controller_owner_ref(&()).map(|owner| vec![owner]),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_owned()),
        data: Some(data),
        ..Secret::default()
    })
}

/// Where clients reach a data-tier resource, as its connection Secret says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reach {
    /// Primary (writer, or configuration) endpoint address; `None` until AWS reports one.
    pub host: Option<String>,
    /// Its port.
    pub port: i32,
    /// Address of a reader endpoint, when there is one.
    pub reader_host: Option<String>,
}

/// The data of a connection Secret, built key by key.
#[derive(Default)]
pub struct SecretData(BTreeMap<String, ByteString>);

impl SecretData {
    /// The keys every data-tier Secret has: `port`; `host` and `url` (made by `url`
    /// from the host) once AWS reports a host; `readerHost` when it reports one.
    pub fn reach(reach: &Reach, url: impl FnOnce(&str) -> String) -> Self {
        let mut data = Self::default();
        data.put("port", reach.port.to_string());
        if let Some(host) = &reach.host {
            data.put("host", host.clone());
            data.put("url", url(host));
        }
        if let Some(reader_host) = &reach.reader_host {
            data.put("readerHost", reader_host.clone());
        }
        data
    }

    /// Sets `key` to `value`.
    pub fn put(&mut self, key: &str, value: String) {
        self.0
            .insert(key.to_owned(), ByteString(value.into_bytes()));
    }

    /// The data, for the Secret.
    pub fn into_inner(self) -> BTreeMap<String, ByteString> {
        self.0
    }
}

/// Who controls `secret` when it is not the object with `uid`: `Kind/name` of its
/// controller owner (an ownerReference names an object of the Secret's own namespace),
/// or `not managed by tiered`; `None` when the object with `uid` controls it. Such a
/// Secret is never written, and no credential is read from it.
pub fn foreign_controller(secret: &Secret, uid: &str) -> Option<String> {
    let controller = secret
        .owner_references()
        .iter()
        .find(|r| r.controller == Some(true));
    match controller {
        Some(owner) if owner.uid == uid => None,
        Some(owner) => Some(format!("{}/{}", owner.kind, owner.name)),
        None => Some("not managed by tiered".to_owned()),
    }
}

/// The credential kept under `key` in an existing connection Secret, which must be
/// controlled by the object with `uid` (a Secret someone else made never chooses it).
pub fn credential_from_secret(secret: &Secret, uid: &str, key: &str) -> Option<Password> {
    if foreign_controller(secret, uid).is_some() {
        return None;
    }
    let value = secret.data.as_ref()?.get(key)?;
    let text = String::from_utf8(value.0.clone()).ok()?;
    (!text.is_empty()).then(|| Password::from_secret_value(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_named_labelled_and_owned_after_its_object() {
        let cache: crate::api::CacheCluster = serde_json::from_value(serde_json::json!({
            "apiVersion": "tiered.io/v1alpha1",
            "kind": "CacheCluster",
            "metadata": {"name": "c", "namespace": "shop", "uid": "u-1"},
            "spec": {"engine": "valkey", "engineVersion": "8.0", "nodeType": "cache.t4g.micro", "replicasPerShard": 1}
        }))
        .unwrap();
        let data = BTreeMap::from([("authToken".to_owned(), ByteString(b"tok".to_vec()))]);
        let ConnectionSecret(secret) = connection_secret(&cache, "cache", data);
        assert_eq!(secret.metadata.name.as_deref(), Some("c-connection"));
        assert_eq!(secret.metadata.namespace.as_deref(), Some("shop"));
        assert_eq!(
            secret
                .labels()
                .get("app.kubernetes.io/component")
                .map(String::as_str),
            Some("cache")
        );
        assert_eq!(secret.owner_references()[0].uid, "u-1");
        assert_eq!(
            credential_from_secret(&secret, "u-1", "authToken").map(|t| t.expose().to_owned()),
            Some("tok".to_owned())
        );
        assert_eq!(credential_from_secret(&secret, "u-1", "password"), None);
        assert_eq!(foreign_controller(&secret, "u-1"), None);
        assert_eq!(
            foreign_controller(&secret, "u-2").as_deref(),
            Some("CacheCluster/c")
        );
        assert_eq!(credential_from_secret(&secret, "u-2", "authToken"), None);
        let mut unowned = secret.clone();
        unowned.metadata.owner_references = None;
        assert_eq!(
            foreign_controller(&unowned, "u-1").as_deref(),
            Some("not managed by tiered")
        );
        assert_eq!(credential_from_secret(&unowned, "u-1", "authToken"), None);
    }

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
