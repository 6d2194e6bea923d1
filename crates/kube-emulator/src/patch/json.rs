//! JSON patch (RFC 6902) with the one deviation kube-apiserver has through evanphx/json-patch:
//! a `test` on an absent member compares against `null`. The other operations are the
//! `json-patch` crate's; only `test` is evaluated here, because that crate rejects a test
//! on an absent path while the real server lets `{"op":"test","value":null}` succeed there.

use json_patch::PatchOperation;
use serde_json::Value;

use super::PatchError;

/// Applies `patch` (a JSON array of operations) to a copy of `current`.
pub(crate) fn apply(current: &Value, patch: &Value) -> Result<Value, PatchError> {
    let operations: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|err| PatchError::Invalid(format!("malformed JSON patch: {err}")))?;
    let mut doc = current.clone();
    for (index, operation) in operations.0.iter().enumerate() {
        if let PatchOperation::Test(test) = operation {
            run_test(&doc, test.path.as_str(), &test.value, index)?;
            continue;
        }
        json_patch::patch(&mut doc, std::slice::from_ref(operation)).map_err(|err| {
            PatchError::Invalid(format!(
                "operation {index} ({}) failed: {}",
                operation.path(),
                err.kind
            ))
        })?;
    }
    Ok(doc)
}

/// evanphx/json-patch `test`: the parent must exist; an absent member equals `null`.
fn run_test(doc: &Value, path: &str, expected: &Value, index: usize) -> Result<(), PatchError> {
    let actual = if let Some(value) = doc.pointer(path) {
        value
    } else {
        let parent = path.rfind('/').map_or("", |at| &path[..at]);
        if doc.pointer(parent).is_none() {
            return Err(PatchError::TestFailed(format!(
                "operation {index}: test operation does not apply: is missing path: {path}"
            )));
        }
        &Value::Null
    };
    if actual == expected {
        Ok(())
    } else {
        Err(PatchError::TestFailed(format!(
            "operation {index}: testing value {path} failed"
        )))
    }
}
