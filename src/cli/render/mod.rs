//! `tiered render -f FILE…`: offline plan. Reads TieredApp, ManagedDatabase and
//! CacheCluster manifests (multi-document YAML, `-` for standard input), validates them,
//! and prints the Kubernetes objects the operator would apply for each TieredApp as
//! multi-document YAML for `kubectl apply --dry-run=client` or a pull-request review.
//! Touches only the given files and standard streams. This file holds the command and
//! the order of the work; `parse` reads the input, `wiring` is what is known of a
//! tier's wiring offline, `write` writes the objects and the AWS plans, `identity`
//! the notes on the tiers' AWS identities.
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
//! Pod Identity association to create (`identity`).

mod identity;
mod parse;
mod wiring;
mod write;

use std::fmt::Write as _;
use std::io::{Read, Write as _};

use crate::api::{GROUP, ManagedDatabase, VERSION};
use crate::cli::CliError;
use crate::controllers::data_tier::error::InvalidSpec;
use crate::controllers::tiered_app::build::{SpecError, desired_children};
use crate::controllers::tiered_app::validate::validate;
use crate::runtime::error::chain;

use parse::{Document, namespaced_name, parse_documents};
use wiring::offline_wiring;
use write::{write_aws_plan, write_children};

/// Arguments of `tiered render`.
#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// Manifest file to read (multi-document YAML); `-` reads standard input. Repeat the
    /// flag for several files.
    #[arg(short = 'f', long = "filename", value_name = "FILE", required = true)]
    pub files: Vec<String>,
    /// Cluster name the AWS identifiers and tags are computed with (the operator's
    /// `--cluster-name`, with its rule).
    #[arg(long, default_value = DEFAULT_CLUSTER_NAME, value_parser = crate::cli::run::parse_cluster_name)]
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
        if let Err(problem) = write_aws_plan(&mut rendered.yaml, document, cluster) {
            problems.push(problem);
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
