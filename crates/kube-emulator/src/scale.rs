//! The `/scale` subresource: an autoscaling/v1 `Scale` view of a Deployment (upstream
//! `pkg/registry/apps/deployment/storage` `ScaleREST`) or of a custom resource whose CRD
//! version declares `subresources.scale` (`apiextensions-apiserver`'s
//! `customresource.ScaleREST`). What the HPA controller, `kubectl scale` and kube's
//! `Api::get_scale`/`patch_scale`/`replace_scale` use.
//!
//! GET answers the `Scale` (`metadata` name, namespace, uid, resourceVersion,
//! creationTimestamp of the parent; `spec.replicas`; `status.replicas`; `status.selector`
//! as a string). PUT and PATCH (merge, JSON, strategic) change the Scale, which sets only
//! the parent's replica field and goes through the parent's update rules (its
//! `resourceVersion` precondition, generation, validation, `managedFields` with
//! `subresource: scale`, `dryRun`); the answer is the new `Scale`. Server-side apply of a
//! Scale is refused with 415 (upstream maps the Scale's `managedFields` onto the parent's;
//! the emulator does not).

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::Shared;
use super::patch::PatchKind;
use super::read::Reply;
use super::resources::ResourceType;
use super::schema::{FieldError, FieldErrorKind};
use super::selectors::LabelSelector;
use super::server::Request;
use super::status::ApiError;
use super::write;

/// `apiVersion` of the `Scale` the subresource serves.
pub const SCALE_API_VERSION: &str = "autoscaling/v1";
/// Group of the `Scale` kind, as discovery lists it for `<plural>/scale`.
pub const SCALE_GROUP: &str = "autoscaling";
/// Version of the `Scale` kind.
pub const SCALE_VERSION: &str = "v1";

/// `spec.replicas` of a Scale whose parent has no value at its spec replicas path
/// (upstream's `invalidSpecReplicas`: a write must then set a count).
const MISSING_REPLICAS: i64 = i32::MIN as i64;

/// Where a kind's `/scale` reads and writes: field paths as in a CRD's
/// `subresources.scale` (`.spec.replicas`), split into their names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleSubresource {
    /// `specReplicasPath`: the replica count a Scale write sets.
    pub spec_replicas: Vec<String>,
    /// `statusReplicasPath`: the observed count (0 when absent).
    pub status_replicas: Vec<String>,
    /// Where `status.selector` comes from.
    pub selector: SelectorSource,
}

/// The source of a Scale's `status.selector`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectorSource {
    /// A `metav1.LabelSelector` object at this path (a Deployment's `spec.selector`),
    /// printed as `labels.Selector.String()` does.
    LabelSelector(Vec<String>),
    /// A CRD's `labelSelectorPath`: a string field, copied as is ("" when absent).
    Text(Option<Vec<String>>),
}

/// `.spec.replicas` → `["spec", "replicas"]`.
fn path(json_path: &str) -> Vec<String> {
    json_path
        .split('.')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl ScaleSubresource {
    /// A Deployment's: `spec.replicas`, `status.replicas`, `spec.selector`.
    pub fn deployment() -> Self {
        Self {
            spec_replicas: path(".spec.replicas"),
            status_replicas: path(".status.replicas"),
            selector: SelectorSource::LabelSelector(path(".spec.selector")),
        }
    }

    /// A CRD version's `subresources.scale` (`None` when it declares none).
    pub fn of_crd_version(version: &Value) -> Option<Self> {
        let scale = version["subresources"].get("scale")?;
        let text = |key: &str| scale[key].as_str().filter(|s| !s.is_empty()).map(path);
        Some(Self {
            spec_replicas: text("specReplicasPath")?,
            status_replicas: text("statusReplicasPath").unwrap_or_default(),
            selector: SelectorSource::Text(text("labelSelectorPath")),
        })
    }
}

fn at<'a>(object: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(object, |v, key| v.get(key))
}

fn set_at(object: &mut Value, path: &[String], value: Value) {
    let mut node = object;
    for key in path {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        node = &mut node[key.as_str()];
    }
    *node = value;
}

/// The Scale of `parent` and whether it has a value at the spec replicas path (a missing
/// one reads as [`MISSING_REPLICAS`]). `spec.replicas` 0 and an empty selector are left
/// out, as Go's `omitempty` does.
fn scale_of(sub: &ScaleSubresource, parent: &Value) -> (Value, bool) {
    let spec_replicas = at(parent, &sub.spec_replicas).and_then(Value::as_i64);
    let status_replicas = at(parent, &sub.status_replicas)
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let selector = match &sub.selector {
        SelectorSource::LabelSelector(p) => {
            at(parent, p).map(|selector| LabelSelector::from_spec(selector).to_string())
        }
        SelectorSource::Text(p) => p
            .as_ref()
            .and_then(|p| at(parent, p))
            .and_then(Value::as_str)
            .map(str::to_owned),
    }
    .unwrap_or_default();
    let meta = &parent["metadata"];
    let mut metadata = Map::new();
    for key in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = meta.get(key).filter(|v| !v.is_null()) {
            metadata.insert(key.to_owned(), v.clone());
        }
    }
    let replicas = spec_replicas.unwrap_or(MISSING_REPLICAS);
    let mut scale = json!({
        "kind": "Scale",
        "apiVersion": SCALE_API_VERSION,
        "metadata": metadata,
        "spec": {},
        "status": {"replicas": status_replicas},
    });
    if replicas != 0 {
        scale["spec"]["replicas"] = json!(replicas);
    }
    if !selector.is_empty() {
        scale["status"]["selector"] = json!(selector);
    }
    (scale, spec_replicas.is_some())
}

fn subresource(rt: &ResourceType) -> Result<&ScaleSubresource, ApiError> {
    rt.scale.as_ref().ok_or_else(ApiError::method_not_allowed)
}

/// The stored parent of the request's Scale.
fn parent(shared: &Shared, request: &Request) -> Result<Value, ApiError> {
    let target = &request.target;
    write::stored_object(&shared.store.lock(), request)
        .ok_or_else(|| ApiError::not_found(&target.rt, target.name.as_deref().unwrap_or_default()))
}

/// `GET …/{name}/scale`. A custom resource without a value at its spec replicas path is
/// a 500, as upstream (`the spec replicas field ".spec.x" does not exist`).
pub fn get(shared: &Arc<Shared>, request: &Request) -> Reply {
    let sub = subresource(&request.target.rt)?;
    let (scale, found) = scale_of(sub, &parent(shared, request)?);
    if !found {
        return Err(ApiError::internal(format!(
            "the spec replicas field \".{}\" does not exist",
            sub.spec_replicas.join(".")
        )));
    }
    Ok((StatusCode::OK, scale))
}

/// `PUT …/{name}/scale` with a `Scale` body.
pub fn update(shared: &Arc<Shared>, request: &Request) -> Reply {
    let scale = write::parse_body(request)?;
    store_scale(shared, request, &scale)
}

/// `PATCH …/{name}/scale`: the patch applies to the current `Scale`, which is then
/// written as by [`update`].
pub fn patch(shared: &Arc<Shared>, request: &Request) -> Reply {
    let rt = &request.target.rt;
    let sub = subresource(rt)?;
    let name = request.target.name.as_deref().unwrap_or_default();
    let kind = write::patch_kind(&request.content_type)
        .ok_or_else(|| ApiError::unsupported_media_type(&request.content_type))?;
    let body = write::parse_body(request)?;
    let (current, _) = scale_of(sub, &parent(shared, request)?);
    let patched = match kind {
        PatchKind::Merge => super::patch::merge(&current, &body),
        PatchKind::Json => {
            super::patch::json(&current, &body).map_err(|e| write::patch_error(rt, name, e))?
        }
        PatchKind::Strategic => {
            super::patch::strategic(&current, &body, &format!("{SCALE_API_VERSION}/Scale"))
                .map_err(|e| write::patch_error(rt, name, e))?
        }
        PatchKind::Apply => {
            return Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                "the kube emulator does not serve server-side apply on /scale; use a merge or JSON patch",
            ));
        }
    };
    store_scale(shared, request, &patched)
}

/// Writes `scale` to its parent (upstream `ScaleREST.Update`): checks its kind, name and
/// `spec.replicas` (≥ 0, `ValidateScale`), sets the replica field and its
/// `resourceVersion` precondition on the parent and updates it under the parent's rules.
fn store_scale(shared: &Arc<Shared>, request: &Request, scale: &Value) -> Reply {
    let rt = Arc::clone(&request.target.rt);
    let sub = subresource(&rt)?;
    let name = request.target.name.clone().unwrap_or_default();
    let kind = scale["kind"].as_str().unwrap_or_default();
    let api_version = scale["apiVersion"].as_str().unwrap_or_default();
    if !scale.is_object()
        || (!kind.is_empty() && kind != "Scale")
        || (!api_version.is_empty() && api_version != SCALE_API_VERSION)
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({SCALE_API_VERSION})"
        )));
    }
    write::check_body_name(scale, &name)?;
    let replicas = match &scale["spec"]["replicas"] {
        Value::Null => 0,
        value => value
            .as_i64()
            .filter(|n| i32::try_from(*n).is_ok())
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Scale in version \"v1\" cannot be handled as a Scale: spec.replicas: {value} is not an int32"
                ))
            })?,
    };
    if replicas < 0 {
        return Err(ApiError::invalid_kind(
            SCALE_GROUP,
            "Scale",
            &name,
            &[FieldError::new(
                FieldErrorKind::Invalid,
                "spec.replicas",
                Some(json!(replicas)),
                "must be greater than or equal to 0",
            )],
        ));
    }
    let (code, stored) = write::replace(shared, request, |old| {
        let mut new = old.clone();
        set_at(&mut new, &sub.spec_replicas, json!(replicas));
        match scale["metadata"]["resourceVersion"].as_str() {
            Some(rv) if !rv.is_empty() => new["metadata"]["resourceVersion"] = json!(rv),
            _ => {
                if let Some(meta) = new["metadata"].as_object_mut() {
                    meta.remove("resourceVersion");
                }
            }
        }
        new
    })?;
    Ok((code, scale_of(sub, &stored).0))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Upstream `labels.Selector.String()`: sorted by key, set values sorted.
    #[test]
    fn selectors_print_like_labels_selector_string() {
        let cases = [
            (json!({"matchLabels": {"b": "2", "a": "1"}}), "a=1,b=2"),
            (
                json!({"matchExpressions": [
                    {"key": "z", "operator": "DoesNotExist"},
                    {"key": "env", "operator": "NotIn", "values": ["qa", "dev"]},
                    {"key": "has", "operator": "Exists"}]}),
                "env notin (dev,qa),has,!z",
            ),
            (json!({}), ""),
            (Value::Null, ""),
        ];
        for (selector, want) in cases {
            assert_eq!(
                LabelSelector::from_spec(&selector).to_string(),
                want,
                "{selector}"
            );
        }
    }

    // Upstream: `spec.replicas` is `omitempty` in autoscaling/v1; a CRD path that holds
    // nothing reads as missing.
    #[test]
    fn a_zero_count_is_left_out_and_a_missing_one_is_reported() {
        let sub = ScaleSubresource::deployment();
        let (scale, found) = scale_of(&sub, &json!({"spec": {"replicas": 0}}));
        assert!(found);
        assert_eq!(scale["spec"], json!({}));
        assert_eq!(scale["status"], json!({"replicas": 0}));
        let (_, found) = scale_of(&sub, &json!({"spec": {}}));
        assert!(!found);
    }
}
