//! The input side of `tiered render`: multi-document YAML into typed TieredApps,
//! ManagedDatabases and CacheClusters ([`Document`]), every document that is not one,
//! or not well formed, a [`RenderProblem`] naming the file, the object and the field.
//! Pure.

use serde::de::DeserializeOwned;
use serde_norway::Value;

use super::{Input, RenderProblem};
use crate::api::{CacheCluster, GROUP, ManagedDatabase, TieredApp, VERSION};
use crate::controllers::tiered_app::validate::DEFAULT_NAMESPACE;

/// A parsed document, before rendering.
pub(super) enum Document {
    /// A TieredApp.
    App {
        /// The file it came from.
        file: String,
        /// The object.
        app: Box<TieredApp>,
    },
    /// A ManagedDatabase.
    Database {
        /// The file it came from.
        file: String,
        /// The object.
        database: Box<ManagedDatabase>,
    },
    /// A CacheCluster.
    Cache {
        /// The file it came from.
        file: String,
        /// The object.
        cache: Box<CacheCluster>,
    },
}

/// Appends the documents of `input` to `documents`, and what is wrong with them to
/// `problems`.
pub(super) fn parse_documents(
    input: &Input,
    documents: &mut Vec<Document>,
    problems: &mut Vec<RenderProblem>,
) {
    use serde::Deserialize as _;
    for (index, deserializer) in serde_norway::Deserializer::from_str(&input.text).enumerate() {
        let value = match Value::deserialize(deserializer) {
            Ok(Value::Null) => continue,
            Ok(value) => value,
            Err(source) => {
                problems.push(RenderProblem::Parse {
                    file: input.name.clone(),
                    index,
                    source,
                });
                // The YAML stream cannot be resumed after a syntax error.
                return;
            }
        };
        let text_of = |key: &str| {
            value
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let (api_version, kind) = (text_of("apiVersion"), text_of("kind"));
        let object = format!("{kind} {}", value_namespaced_name(&value));
        let file = input.name.clone();
        let field = |path, source| RenderProblem::Field {
            file: file.clone(),
            object: object.clone(),
            path,
            source,
        };
        let parsed = match (api_version == format!("{GROUP}/{VERSION}"), kind.as_str()) {
            (true, "TieredApp") => typed::<TieredApp>(value).map(|app| Document::App {
                file: input.name.clone(),
                app: Box::new(app),
            }),
            (true, "ManagedDatabase") => {
                typed::<ManagedDatabase>(value).map(|database| Document::Database {
                    file: input.name.clone(),
                    database: Box::new(database),
                })
            }
            (true, "CacheCluster") => typed::<CacheCluster>(value).map(|cache| Document::Cache {
                file: input.name.clone(),
                cache: Box::new(cache),
            }),
            _ => {
                problems.push(RenderProblem::UnsupportedKind {
                    file: input.name.clone(),
                    index,
                    api_version,
                    kind,
                });
                continue;
            }
        };
        match parsed {
            Ok(document) => documents.push(document),
            Err((path, source)) => problems.push(field(path, source)),
        }
    }
}

fn typed<T: DeserializeOwned>(value: Value) -> Result<T, (String, serde_norway::Error)> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        (path, error.into_inner())
    })
}

fn value_namespaced_name(value: &Value) -> String {
    let metadata = value.get("metadata");
    let text = |key: &str| metadata.and_then(|m| m.get(key)).and_then(Value::as_str);
    format!(
        "{}/{}",
        text("namespace").unwrap_or(DEFAULT_NAMESPACE),
        text("name").unwrap_or("<unnamed>")
    )
}

/// `namespace/name` of an object, for messages.
pub(super) fn namespaced_name(
    metadata: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> String {
    format!(
        "{}/{}",
        metadata.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE),
        metadata.name.as_deref().unwrap_or("<unnamed>")
    )
}
