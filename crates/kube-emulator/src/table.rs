//! Server-side printing of custom resources, as kube-apiserver's CRD table convertor
//! does it for `kubectl get`: a request whose `Accept` asks for `as=Table` (kubectl's
//! `application/json;as=Table;v=v1;g=meta.k8s.io,…`) gets a `meta.k8s.io/v1` Table whose
//! columns are `Name` and the CRD version's `additionalPrinterColumns` (or `Name` and
//! `Age` when it declares none), each cell the column's JSONPath on the object (`date`
//! columns as an age, `5m`), each row with the object's metadata (`includeObject=Metadata`,
//! the default) or the whole object (`includeObject=Object`). Watches wrap each event's
//! object in a one-row Table the same way. Built-in kinds keep the plain list (kubectl
//! prints their `NAME` and `AGE` itself).

use jsonpath_rust::JsonPath;
use serde_json::{Value, json};

use crate::Shared;
use crate::server::Request;

/// What a row holds besides its cells (`includeObject`: `Metadata`, `Object`, `None`).
pub fn include_object(request: &Request) -> String {
    request
        .params
        .get("includeObject")
        .unwrap_or("Metadata")
        .to_owned()
}

/// The columns of a Table of `rt`, when `request` asks for one and `rt` is a custom kind.
pub fn wanted(shared: &Shared, request: &Request) -> Option<Vec<Value>> {
    let rt = &request.target.rt;
    if !rt.custom || !request.accept.contains("as=Table") {
        return None;
    }
    let crd_name = format!("{}.{}", rt.plural, rt.group);
    let world = shared.store.lock();
    let crd = world.get(
        "apiextensions.k8s.io/customresourcedefinitions",
        "",
        &crd_name,
    )?;
    let declared = crd["spec"]["versions"]
        .as_array()?
        .iter()
        .find(|v| v["name"].as_str() == Some(rt.version.as_str()))?["additionalPrinterColumns"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let name = json!({"name": "Name", "type": "string", "format": "name", "priority": 0,
        "description": "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"});
    let mut columns = vec![name];
    if declared.is_empty() {
        columns.push(
            json!({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}),
        );
    } else {
        columns.extend(declared);
    }
    Some(columns)
}

/// The Table of `objects` (as served) with `columns` (from [`wanted`]).
pub fn table(
    columns: &[Value],
    objects: &[Value],
    include_object: &str,
    list_metadata: &Value,
) -> Value {
    let rows: Vec<Value> = objects
        .iter()
        .map(|object| {
            let cells: Vec<Value> = columns.iter().map(|c| cell(c, object)).collect();
            let mut row = json!({"cells": cells});
            match include_object {
                "None" => {}
                "Object" => row["object"] = object.clone(),
                _ => {
                    row["object"] = json!({
                        "kind": "PartialObjectMetadata",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": object["metadata"],
                    });
                }
            }
            row
        })
        .collect();
    let definitions: Vec<Value> = columns
        .iter()
        .map(|c| {
            json!({
                "name": c["name"],
                "type": c["type"],
                "format": c["format"].as_str().unwrap_or_default(),
                "description": c["description"].as_str().unwrap_or_default(),
                "priority": c["priority"].as_i64().unwrap_or(0),
            })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_metadata,
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

/// One cell: the name, or the column's JSONPath on `object` (`null` when it finds
/// nothing, which kubectl prints as `<none>`), a `date` as the age.
fn cell(column: &Value, object: &Value) -> Value {
    if column["format"] == "name" && column.get("jsonPath").is_none() {
        return object["metadata"]["name"].clone();
    }
    let path = column["jsonPath"].as_str().unwrap_or_default();
    let found = object
        .query(&format!("${path}"))
        .ok()
        .and_then(|values| values.first().map(|v| (*v).clone()))
        .unwrap_or(Value::Null);
    if column["type"] == "date" {
        return found
            .as_str()
            .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
            .map_or(Value::Null, |t| Value::String(age(t)));
    }
    found
}

/// `HumanDuration` of the time since `then`, as kubectl prints ages (`45s`, `5m`, `3h`,
/// `2d`).
fn age(then: k8s_openapi::jiff::Timestamp) -> String {
    let seconds = k8s_openapi::jiff::Timestamp::now()
        .duration_since(then)
        .as_secs()
        .max(0);
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 60 * 60 * 2 => format!("{}m", s / 60),
        s if s < 60 * 60 * 48 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}
