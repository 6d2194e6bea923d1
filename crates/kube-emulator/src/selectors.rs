//! Label and field selectors as the API server parses them from `labelSelector` and
//! `fieldSelector` query parameters. Matching of label expressions reuses `kube::core`.

use std::collections::BTreeSet;

use kube::core::Expression;
use serde_json::Value;

use super::status::ApiError;

/// A parsed `labelSelector`.
#[derive(Debug, Clone, Default)]
pub struct LabelSelector(Vec<Expression>);

/// A parsed `fieldSelector`: `(path, wanted value, equal?)` terms.
#[derive(Debug, Clone, Default)]
pub struct FieldSelector(Vec<(String, String, bool)>);

/// Splits on commas that are not inside parentheses.
fn split_terms(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect()
}

fn set_of(rest: &str) -> Result<BTreeSet<String>, ApiError> {
    let inner = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "unable to parse requirement: expected a set in {rest:?}"
            ))
        })?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect())
}

impl LabelSelector {
    /// Parses `a=b,c!=d,e in (f,g),h notin (i),j,!k`.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let mut exprs = Vec::new();
        for term in split_terms(s) {
            let expr = if let Some(key) = term.strip_prefix('!') {
                Expression::DoesNotExist(key.trim().to_owned())
            } else if let Some((k, v)) = term.split_once("!=") {
                Expression::NotEqual(k.trim().to_owned(), v.trim().to_owned())
            } else if let Some((k, v)) = term.split_once("==") {
                Expression::Equal(k.trim().to_owned(), v.trim().to_owned())
            } else if let Some((k, v)) = term.split_once('=') {
                Expression::Equal(k.trim().to_owned(), v.trim().to_owned())
            } else if let Some((k, rest)) = term.split_once(" notin ") {
                Expression::NotIn(k.trim().to_owned(), set_of(rest)?)
            } else if let Some((k, rest)) = term.split_once(" in ") {
                Expression::In(k.trim().to_owned(), set_of(rest)?)
            } else if term.contains(char::is_whitespace) || term.contains('(') {
                return Err(ApiError::bad_request(format!(
                    "unable to parse requirement: found '{term}', expected: in, notin, =, ==, !="
                )));
            } else {
                Expression::Exists(term.to_owned())
            };
            exprs.push(expr);
        }
        Ok(Self(exprs))
    }

    /// A `metav1.LabelSelector` object (`matchLabels`, `matchExpressions` with `In`,
    /// `NotIn`, `Exists`, `DoesNotExist`), as a Deployment's `spec.selector` holds it.
    pub fn from_spec(selector: &Value) -> Self {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let mut exprs: Vec<Expression> = selector["matchLabels"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(key, value)| Expression::Equal(key.clone(), text(value)))
            .collect();
        for requirement in selector["matchExpressions"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let key = text(&requirement["key"]);
            let values: BTreeSet<String> = requirement["values"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text)
                .collect();
            exprs.push(match requirement["operator"].as_str().unwrap_or_default() {
                "In" => Expression::In(key, values),
                "NotIn" => Expression::NotIn(key, values),
                "Exists" => Expression::Exists(key),
                _ => Expression::DoesNotExist(key),
            });
        }
        Self(exprs)
    }

    /// Whether an object's labels match.
    pub fn matches(&self, object: &Value) -> bool {
        if self.0.is_empty() {
            return true;
        }
        // Reads the labels in place (no copy per object: lists scan whole buckets), with
        // the semantics of `kube::core`'s `Expression::matches` (a non-string value reads
        // as "").
        let labels = object["metadata"]["labels"].as_object();
        let label = |key: &str| {
            labels
                .and_then(|m| m.get(key))
                .map(|v| v.as_str().unwrap_or_default())
        };
        self.0.iter().all(|e| match e {
            Expression::In(key, values) => label(key).is_some_and(|v| values.contains(v)),
            Expression::NotIn(key, values) => label(key).is_none_or(|v| !values.contains(v)),
            Expression::Exists(key) => label(key).is_some(),
            Expression::DoesNotExist(key) => label(key).is_none(),
            Expression::Equal(key, value) => label(key) == Some(value.as_str()),
            Expression::NotEqual(key, value) => label(key) != Some(value.as_str()),
        })
    }
}

impl FieldSelector {
    /// Parses `metadata.name=x,metadata.namespace!=y`; `selectable` are extra paths a
    /// CRD declares in `selectableFields` (as `.spec.x` JSON paths).
    pub fn parse(s: &str, selectable: &[String]) -> Result<Self, ApiError> {
        let mut terms = Vec::new();
        for term in split_terms(s) {
            let (path, value, equal) = if let Some((k, v)) = term.split_once("!=") {
                (k, v, false)
            } else if let Some((k, v)) = term.split_once("==") {
                (k, v, true)
            } else if let Some((k, v)) = term.split_once('=') {
                (k, v, true)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{term}'; can't understand '{term}'"
                )));
            };
            let path = path.trim();
            let known = matches!(path, "metadata.name" | "metadata.namespace")
                || selectable.iter().any(|f| f.trim_start_matches('.') == path);
            if !known {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {path}"
                )));
            }
            terms.push((path.to_owned(), value.trim().to_owned(), equal));
        }
        Ok(Self(terms))
    }

    /// Whether an object's fields match.
    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|(path, wanted, equal)| {
            let mut v = object;
            for part in path.split('.') {
                v = &v[part];
            }
            let actual = match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (actual == *wanted) == *equal
        })
    }
}
