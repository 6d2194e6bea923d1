//! The output side of `tiered render`: a TieredApp's children as YAML documents in
//! apply order, and the AWS plan of a ManagedDatabase or CacheCluster as YAML comments
//! (so that `kubectl apply` still accepts the output). Pure: text into a `String`.

use std::fmt::Write as _;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_norway::{Mapping, Value};

use super::RenderProblem;
use super::parse::namespaced_name;
use crate::api::{CacheCluster, ManagedDatabase};
use crate::controllers::cache_cluster::render_plan::cache_plan;
use crate::controllers::data_tier::error::InvalidSpec;
use crate::controllers::managed_database::plan::database_plan;
use crate::controllers::tiered_app::build::{Child, ChildVisitor, DesiredChildren};
use crate::controllers::tiered_app::validate::DEFAULT_NAMESPACE;

/// A data-tier object as its plan names it: `Kind namespace/name`, its namespace and
/// its name.
struct Planned<'a> {
    object: String,
    namespace: &'a str,
    name: &'a str,
}

impl<'a> Planned<'a> {
    fn new(kind: &str, metadata: &'a ObjectMeta) -> Self {
        Planned {
            object: format!("{kind} {}", namespaced_name(metadata)),
            namespace: metadata.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE),
            name: metadata.name.as_deref().unwrap_or("<unnamed>"),
        }
    }

    /// The problem of a spec the plan refuses, in `file`.
    fn invalid(&self, file: &str, source: InvalidSpec) -> RenderProblem {
        RenderProblem::InvalidDatabase {
            file: file.to_owned(),
            object: self.object.clone(),
            source,
        }
    }
}

/// Writes the AWS plan of `database` as YAML comments.
pub(super) fn write_database_plan(
    out: &mut String,
    file: &str,
    database: &ManagedDatabase,
    cluster: &str,
) -> Result<(), RenderProblem> {
    let planned = Planned::new("ManagedDatabase", &database.metadata);
    let plan = database_plan(&database.spec, cluster, planned.namespace, planned.name)
        .map_err(|source| planned.invalid(file, source))?;
    let mut document = Mapping::new();
    document.insert("awsCalls".into(), Value::Sequence(plan.calls));
    document.insert("connectionSecret".into(), plan.secret);
    let object = &planned.object;
    let heading = format!(
        "{object}: AWS calls on a fresh account (cluster name {cluster:?}), then the\n# connection Secret it writes; passwords are never shown."
    );
    write_plan(out, &heading, object, &document)
}

/// Writes the AWS plan of `cache` as YAML comments.
pub(super) fn write_cache_plan(
    out: &mut String,
    file: &str,
    cache: &CacheCluster,
    cluster: &str,
) -> Result<(), RenderProblem> {
    let planned = Planned::new("CacheCluster", &cache.metadata);
    let plan = cache_plan(&cache.spec, cluster, planned.namespace, planned.name)
        .map_err(|source| planned.invalid(file, source))?;
    let mut document = Mapping::new();
    document.insert("awsCalls".into(), Value::Sequence(plan.calls));
    let object = &planned.object;
    let heading = format!(
        "{object}: ElastiCache calls on a fresh account (cluster name {cluster:?}); AUTH\n# tokens are never shown."
    );
    write_plan(out, &heading, object, &document)
}

/// Writes `heading` and `document` as YAML comments.
fn write_plan(
    out: &mut String,
    heading: &str,
    object: &str,
    document: &Mapping,
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
pub(super) fn write_children(
    out: &mut String,
    children: &DesiredChildren,
) -> Result<(), serde_norway::Error> {
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
