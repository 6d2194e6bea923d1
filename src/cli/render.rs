//! `tiered render -f FILE…`: offline plan. Reads TieredApp, ManagedDatabase and
//! CacheCluster manifests (multi-document YAML, `-` for standard input), validates them,
//! and prints the Kubernetes objects the operator would apply for each TieredApp as
//! multi-document YAML for `kubectl apply --dry-run=client` or a pull-request review.
//! Touches only the given files and standard streams.
//!
//! Offline differences from what the operator applies: no ownerReferences (the objects
//! have no uid yet) and no `tiered.io/secret-hash` annotation (the Secrets do not exist
//! yet). A ManagedDatabase becomes YAML comments (so `kubectl apply` still accepts the
//! output) listing the AWS calls the operator would make on a fresh account and the
//! connection Secret it would write, passwords redacted; see
//! [`crate::controllers::managed_database::plan`]. A CacheCluster lists its ElastiCache
//! calls the same way, AUTH token redacted
//! ([`crate::controllers::cache_cluster::render_plan`]). A tier's AWS identity gets comments
//! too: the IAM statement its role needs for an `AWSManaged` database password, the EKS
//! Pod Identity association to create ([`identity`]).

#[path = "render_identity.rs"]
mod identity;

use std::fmt::Write as _;
use std::io::{Read, Write as _};

use serde::de::DeserializeOwned;
use serde_norway::Value;

use super::CliError;
use crate::api::managed_database::DatabaseEngine;
use crate::api::{CacheCluster, GROUP, ManagedDatabase, TieredApp, VERSION};
use crate::controllers::cache_cluster::render_plan::cache_plan;
use crate::controllers::data_tier::error::InvalidSpec;
use crate::controllers::managed_database::plan::database_plan;
use crate::controllers::tiered_app::build::{
    Child, ChildVisitor, DesiredChildren, SpecError, TierWiring, Wiring, desired_children,
};
use crate::controllers::tiered_app::validate::{DEFAULT_NAMESPACE, validate};
use crate::runtime::error::chain;

/// Arguments of `tiered render`.
#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// Manifest file to read (multi-document YAML); `-` reads standard input. Repeat the
    /// flag for several files.
    #[arg(short = 'f', long = "filename", value_name = "FILE", required = true)]
    pub files: Vec<String>,
    /// Cluster name the AWS identifiers and tags are computed with (the operator's
    /// `--cluster-name`).
    #[arg(long, default_value = DEFAULT_CLUSTER_NAME)]
    pub cluster_name: String,
}

/// Cluster name of the AWS plan when `--cluster-name` is not given.
pub const DEFAULT_CLUSTER_NAME: &str = "render";

/// One input: a display name (the path, or `<stdin>`) and its text.
#[derive(Clone, Debug)]
pub struct Input {
    /// Path as given, or `<stdin>`.
    pub name: String,
    /// The file's text.
    pub text: String,
}

/// What [`render`] produces for valid input.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rendered {
    /// Multi-document YAML of every object to apply, with comment lines.
    pub yaml: String,
    /// Harmless oddities, one line each (`file: Kind ns/name: field: message`).
    pub warnings: Vec<String>,
}

/// A problem with the input; each names the file and, where known, the object.
#[derive(Debug, thiserror::Error)]
pub enum RenderProblem {
    /// The file could not be read.
    #[error("{file}: failed to read the file")]
    Read {
        /// The file.
        file: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A document is not YAML.
    #[error("{file}: document {index}: failed to parse YAML")]
    Parse {
        /// The file.
        file: String,
        /// Zero-based index of the document in the file.
        index: usize,
        /// The cause.
        #[source]
        source: serde_norway::Error,
    },
    /// A document is not a tiered object.
    #[error(
        "{file}: document {index}: {kind:?} of apiVersion {api_version:?} is not a tiered kind; render reads {GROUP}/{VERSION} TieredApp, ManagedDatabase and CacheCluster"
    )]
    UnsupportedKind {
        /// The file.
        file: String,
        /// Zero-based index of the document in the file.
        index: usize,
        /// `apiVersion` of the document.
        api_version: String,
        /// `kind` of the document.
        kind: String,
    },
    /// A field has the wrong shape for its type.
    #[error("{file}: {object}: {path}")]
    Field {
        /// The file.
        file: String,
        /// `Kind namespace/name`.
        object: String,
        /// Path of the field, e.g. `spec.tiers[0].port`.
        path: String,
        /// What serde found wrong.
        #[source]
        source: serde_norway::Error,
    },
    /// A built object could not be written as YAML (a bug, not bad input).
    #[error("{object}: failed to serialize the objects built for it")]
    Serialize {
        /// `Kind namespace/name`.
        object: String,
        /// The cause.
        #[source]
        source: serde_norway::Error,
    },
    /// A ManagedDatabase or CacheCluster is well formed but asks for something AWS
    /// cannot do.
    #[error("{file}: {object}")]
    InvalidDatabase {
        /// The file.
        file: String,
        /// `Kind namespace/name`.
        object: String,
        /// Field and what to change.
        #[source]
        source: InvalidSpec,
    },
    /// The object is well formed but invalid.
    #[error("{file}: {object}")]
    Invalid {
        /// The file.
        file: String,
        /// `Kind namespace/name`.
        object: String,
        /// Field and what to change.
        #[source]
        source: SpecError,
    },
}

/// A parsed document, before rendering.
enum Document {
    App {
        file: String,
        app: Box<TieredApp>,
    },
    Database {
        file: String,
        database: Box<ManagedDatabase>,
    },
    Cache {
        /// The file it came from.
        file: String,
        /// The object.
        cache: Box<CacheCluster>,
    },
}

/// Runs `tiered render`: reads the files, prints the plan, or prints every problem to
/// standard error and fails.
pub fn run(args: &RenderArgs) -> Result<(), CliError> {
    let mut inputs = Vec::new();
    let mut problems = Vec::new();
    for file in &args.files {
        match read_input(file) {
            Ok(input) => inputs.push(input),
            Err(source) => problems.push(RenderProblem::Read {
                file: file.clone(),
                source,
            }),
        }
    }
    let rendered = render_for_cluster(&inputs, &args.cluster_name);
    let mut stderr = std::io::stderr().lock();
    match (rendered, problems.is_empty()) {
        (Ok(rendered), true) => {
            for warning in &rendered.warnings {
                writeln!(stderr, "warning: {warning}").map_err(CliError::Write)?;
            }
            std::io::stdout()
                .lock()
                .write_all(rendered.yaml.as_bytes())
                .map_err(CliError::Write)
        }
        (rendered, _) => {
            problems.extend(rendered.err().unwrap_or_default());
            for problem in &problems {
                writeln!(stderr, "error: {}", chain(problem)).map_err(CliError::Write)?;
            }
            Err(CliError::InvalidInput(problems.len()))
        }
    }
}

fn read_input(file: &str) -> Result<Input, std::io::Error> {
    let mut text = String::new();
    if file == "-" {
        std::io::stdin().lock().read_to_string(&mut text)?;
        return Ok(Input {
            name: "<stdin>".to_owned(),
            text,
        });
    }
    Ok(Input {
        name: file.to_owned(),
        text: std::fs::read_to_string(file)?,
    })
}

/// Renders the inputs for the cluster name [`DEFAULT_CLUSTER_NAME`].
pub fn render(inputs: &[Input]) -> Result<Rendered, Vec<RenderProblem>> {
    render_for_cluster(inputs, DEFAULT_CLUSTER_NAME)
}

/// Renders the inputs: every problem in every file, or the YAML to apply, with AWS
/// identifiers and tags computed for `cluster`.
pub fn render_for_cluster(inputs: &[Input], cluster: &str) -> Result<Rendered, Vec<RenderProblem>> {
    let mut problems = Vec::new();
    let mut documents = Vec::new();
    for input in inputs {
        parse_documents(input, &mut documents, &mut problems);
    }
    let mut rendered = Rendered {
        yaml: "# Rendered offline by `tiered render`. The operator adds an ownerReference to the\n# TieredApp and a tiered.io/secret-hash pod annotation when it applies these.\n"
        .to_owned(),
        warnings: Vec::new(),
    };
    for document in &documents {
        match document {
            Document::Database { file, database } => {
                if let Err(problem) =
                    write_database_plan(&mut rendered.yaml, file, database, cluster)
                {
                    problems.push(problem);
                }
            }
            Document::Cache { file, cache } => {
                if let Err(problem) = write_cache_plan(&mut rendered.yaml, file, cache, cluster) {
                    problems.push(problem);
                }
            }
            Document::App { .. } => {}
        }
    }
    for document in &documents {
        let Document::App { file, app } = document else {
            continue;
        };
        let object = format!("TieredApp {}", namespaced_name(&app.metadata));
        match validate(app) {
            Err(errors) => {
                problems.extend(errors.into_iter().map(|source| RenderProblem::Invalid {
                    file: file.clone(),
                    object: object.clone(),
                    source,
                }));
            }
            Ok(validated) => {
                rendered.warnings.extend(
                    validated
                        .warnings
                        .iter()
                        .map(|warning| format!("{file}: {object}: {warning}")),
                );
                let wiring = offline_wiring(app, &documents);
                let _ = writeln!(rendered.yaml, "# {object}");
                if let Err(error) =
                    write_children(&mut rendered.yaml, &desired_children(&validated, &wiring))
                {
                    problems.push(RenderProblem::Serialize {
                        object,
                        source: error,
                    });
                }
                let databases: Vec<&ManagedDatabase> = documents
                    .iter()
                    .filter_map(|document| match document {
                        Document::Database { database, .. } => Some(database.as_ref()),
                        _ => None,
                    })
                    .collect();
                rendered.warnings.extend(
                    identity::write_identity_notes(
                        &mut rendered.yaml,
                        &validated,
                        &databases,
                        cluster,
                    )
                    .into_iter()
                    .map(|warning| format!("{file}: {warning}")),
                );
            }
        }
    }
    if problems.is_empty() {
        Ok(rendered)
    } else {
        Err(problems)
    }
}

fn parse_documents(
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

fn namespaced_name(
    metadata: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> String {
    format!(
        "{}/{}",
        metadata.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE),
        metadata.name.as_deref().unwrap_or("<unnamed>")
    )
}

/// Wiring known offline: the database port from a ManagedDatabase in the same input.
fn offline_wiring(app: &TieredApp, documents: &[Document]) -> Wiring {
    let namespace = app
        .metadata
        .namespace
        .as_deref()
        .unwrap_or(DEFAULT_NAMESPACE);
    let database_port = |name: &str| {
        documents.iter().find_map(|document| match document {
            Document::Database { database, .. }
                if database.metadata.name.as_deref() == Some(name)
                    && database
                        .metadata
                        .namespace
                        .as_deref()
                        .unwrap_or(DEFAULT_NAMESPACE)
                        == namespace =>
            {
                Some(match database.spec.engine {
                    DatabaseEngine::Postgres => 5432,
                    DatabaseEngine::Mysql | DatabaseEngine::Mariadb => 3306,
                })
            }
            _ => None,
        })
    };
    Wiring {
        tiers: app
            .spec
            .tiers
            .iter()
            .map(|tier| {
                let wiring = TierWiring {
                    secret_hash: None,
                    database_port: tier
                        .database
                        .as_ref()
                        .and_then(|db| database_port(&db.name)),
                    cache_port: None,
                    live_replicas: None,
                };
                (tier.name.clone(), wiring)
            })
            .collect(),
        ..Wiring::default()
    }
}

/// Writes the AWS plan of `database` as YAML comments.
fn write_database_plan(
    out: &mut String,
    file: &str,
    database: &ManagedDatabase,
    cluster: &str,
) -> Result<(), RenderProblem> {
    let object = format!("ManagedDatabase {}", namespaced_name(&database.metadata));
    let namespace = database
        .metadata
        .namespace
        .as_deref()
        .unwrap_or(DEFAULT_NAMESPACE);
    let name = database.metadata.name.as_deref().unwrap_or("<unnamed>");
    let plan = database_plan(&database.spec, cluster, namespace, name).map_err(|source| {
        RenderProblem::InvalidDatabase {
            file: file.to_owned(),
            object: object.clone(),
            source,
        }
    })?;
    let mut document = serde_norway::Mapping::new();
    document.insert("awsCalls".into(), Value::Sequence(plan.calls));
    document.insert("connectionSecret".into(), plan.secret);
    write_plan(
        out,
        &format!(
            "{object}: AWS calls on a fresh account (cluster name {cluster:?}), then the\n# connection Secret it writes; passwords are never shown."
        ),
        &object,
        &document,
    )
}

/// Writes the AWS plan of `cache` as YAML comments.
fn write_cache_plan(
    out: &mut String,
    file: &str,
    cache: &CacheCluster,
    cluster: &str,
) -> Result<(), RenderProblem> {
    let object = format!("CacheCluster {}", namespaced_name(&cache.metadata));
    let namespace = cache
        .metadata
        .namespace
        .as_deref()
        .unwrap_or(DEFAULT_NAMESPACE);
    let name = cache.metadata.name.as_deref().unwrap_or("<unnamed>");
    let plan = cache_plan(&cache.spec, cluster, namespace, name).map_err(|source| {
        RenderProblem::InvalidDatabase {
            file: file.to_owned(),
            object: object.clone(),
            source,
        }
    })?;
    let mut document = serde_norway::Mapping::new();
    document.insert("awsCalls".into(), Value::Sequence(plan.calls));
    write_plan(
        out,
        &format!(
            "{object}: ElastiCache calls on a fresh account (cluster name {cluster:?}); AUTH\n# tokens are never shown."
        ),
        &object,
        &document,
    )
}

/// Writes `heading` and `document` as YAML comments.
fn write_plan(
    out: &mut String,
    heading: &str,
    object: &str,
    document: &serde_norway::Mapping,
) -> Result<(), RenderProblem> {
    let yaml = serde_norway::to_string(document).map_err(|source| RenderProblem::Serialize {
        object: object.to_owned(),
        source,
    })?;
    let _ = writeln!(out, "# {heading}");
    for line in yaml.lines() {
        let _ = writeln!(out, "#   {line}");
    }
    Ok(())
}

/// Writes every child as a YAML document, in apply order.
fn write_children(out: &mut String, children: &DesiredChildren) -> Result<(), serde_norway::Error> {
    children.visit(&mut Documents(out))
}

/// A [`ChildVisitor`] that appends each object as one YAML document.
struct Documents<'a>(&'a mut String);

impl ChildVisitor for Documents<'_> {
    type Error = serde_norway::Error;

    fn visit<K: Child>(&mut self, _: &'static str, objects: &[K]) -> Result<(), Self::Error> {
        for object in objects {
            self.0.push_str("---\n");
            self.0.push_str(&serde_norway::to_string(object)?);
        }
        Ok(())
    }
}
