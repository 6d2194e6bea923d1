//! The output side of `tiered render`: a TieredApp's children as YAML documents in
//! apply order, and the AWS plan of a ManagedDatabase or CacheCluster as YAML comments
//! (so that `kubectl apply` still accepts the output). Pure: text into a `String`.

use std::fmt::Write as _;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_norway::{Mapping, Value};

use super::RenderProblem;
use super::parse::{Document, namespaced_name};
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

    /// Writes the object's plan, `calls` and the connection Secret where the plan
    /// shows one, as YAML comments under `Kind namespace/name: what`; a spec the plan
    /// refuses is a problem in `file`.
    fn write(
        &self,
        out: &mut String,
        file: &str,
        plan: Result<(Vec<Value>, Option<Value>), InvalidSpec>,
        what: &str,
    ) -> Result<(), RenderProblem> {
        let (calls, secret) = plan.map_err(|source| RenderProblem::InvalidDatabase {
            file: file.to_owned(),
            object: self.object.clone(),
            source,
        })?;
        let mut document = Mapping::new();
        document.insert("awsCalls".into(), Value::Sequence(calls));
        if let Some(secret) = secret {
            document.insert("connectionSecret".into(), secret);
        }
        let heading = format!("{}: {what}", self.object);
        write_plan(out, &heading, &self.object, &document)
    }
}

/// Writes the AWS plan of a ManagedDatabase (its calls, then the connection Secret it
/// writes) or a CacheCluster (its calls) as YAML comments; nothing for a TieredApp.
pub(super) fn write_aws_plan(
    out: &mut String,
    document: &Document,
    cluster: &str,
) -> Result<(), RenderProblem> {
    let (file, planned, plan, what) = match document {
        Document::Database { file, database } => {
            let planned = Planned::new("ManagedDatabase", &database.metadata);
            let plan = database_plan(&database.spec, cluster, planned.namespace, planned.name)
                .map(|plan| (plan.calls, Some(plan.secret)));
            let what = format!(
                "AWS calls on a fresh account (cluster name {cluster:?}), then the\n# connection Secret it writes; passwords are never shown."
            );
            (file, planned, plan, what)
        }
        Document::Cache { file, cache } => {
            let planned = Planned::new("CacheCluster", &cache.metadata);
            let plan = cache_plan(&cache.spec, cluster, planned.namespace, planned.name)
                .map(|plan| (plan.calls, None));
            let what = format!(
                "ElastiCache calls on a fresh account (cluster name {cluster:?}); AUTH\n# tokens are never shown."
            );
            (file, planned, plan, what)
        }
        Document::App { .. } => return Ok(()),
    };
    planned.write(out, file, plan, &what)
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
