//! Field errors shaped and worded like apimachinery's `field.Error`, so that the emulator's
//! `422 Invalid` responses read exactly like the real server's.

use std::fmt;

use serde_json::Value;

/// What kind of problem a field has, with the `reason` the real server reports in
/// `status.details.causes[].reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorKind {
    /// `FieldValueInvalid`: out of bounds, bad pattern, failed CEL rule, …
    Invalid,
    /// `FieldValueRequired`.
    Required,
    /// `FieldValueNotSupported`: not one of the enum values.
    NotSupported,
    /// `FieldValueTooLong`.
    TooLong,
    /// `FieldValueTooMany`.
    TooMany,
    /// `FieldValueDuplicate`.
    Duplicate,
    /// `FieldValueTypeInvalid`... reported by the real server as `FieldValueTypeInvalid`.
    TypeInvalid,
    /// `FieldValueForbidden`: a CEL rule with `reason: FieldValueForbidden`.
    Forbidden,
}

impl FieldErrorKind {
    /// The `reason` of the status cause, e.g. `FieldValueInvalid`.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Invalid => "FieldValueInvalid",
            Self::Required => "FieldValueRequired",
            Self::NotSupported => "FieldValueNotSupported",
            Self::TooLong => "FieldValueTooLong",
            Self::TooMany => "FieldValueTooMany",
            Self::Duplicate => "FieldValueDuplicate",
            Self::TypeInvalid => "FieldValueTypeInvalid",
            Self::Forbidden => "FieldValueForbidden",
        }
    }

    /// The words that open the message, e.g. `Invalid value` (apimachinery `ErrorType.String`).
    fn words(self) -> &'static str {
        match self {
            Self::Invalid | Self::TypeInvalid => "Invalid value",
            Self::Required => "Required value",
            Self::NotSupported => "Unsupported value",
            Self::TooLong => "Too long",
            Self::TooMany => "Too many",
            Self::Duplicate => "Duplicate value",
            Self::Forbidden => "Forbidden",
        }
    }

    /// Whether the message shows the offending value.
    fn shows_value(self) -> bool {
        !matches!(self, Self::Required | Self::TooLong | Self::Forbidden)
    }
}

/// One validation failure, shaped like the real API server's `field.Error`.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// Field path as the server prints it, e.g. `spec.tiers[0].port`.
    pub path: String,
    /// What is wrong.
    pub kind: FieldErrorKind,
    /// The offending value, when there is one.
    pub value: Option<Value>,
    /// Human-readable detail, e.g. `should be less than or equal to 65535`.
    pub detail: String,
}

impl FieldError {
    /// A field error at `path` (as the server prints it, e.g. `metadata.labels`).
    pub(crate) fn new(
        kind: FieldErrorKind,
        path: &str,
        value: Option<Value>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            path: path.to_owned(),
            kind,
            value,
            detail: detail.into(),
        }
    }

    /// `reason` of the status cause, e.g. `FieldValueNotSupported`.
    pub fn reason(&self) -> &'static str {
        self.kind.reason()
    }

    /// The message without the path (apimachinery `ErrorBody`), which is what the real
    /// server puts in `status.details.causes[].message`, e.g.
    /// `Unsupported value: "oracle": supported values: "postgres", "mysql"`.
    pub fn body(&self) -> String {
        let mut body = self.kind.words().to_owned();
        if self.kind.shows_value()
            && let Some(value) = &self.value
        {
            body.push_str(": ");
            body.push_str(&render_value(value));
        }
        if !self.detail.is_empty() {
            body.push_str(": ");
            body.push_str(&self.detail);
        }
        body
    }

    /// The whole message exactly as the real server prints it (`field.Error.Error()`), e.g.
    /// `spec.tiers[0].port: Invalid value: 70000: spec.tiers[0].port in body should be less
    /// than or equal to 65535`.
    pub fn message(&self) -> String {
        format!("{}: {}", self.path, self.body())
    }

    /// Errors after which the real server does not run CEL rules (`hasBlockingErr` in the
    /// apiextensions-apiserver strategy).
    pub(super) fn blocks_cel(&self) -> bool {
        matches!(
            self.kind,
            FieldErrorKind::NotSupported
                | FieldErrorKind::Required
                | FieldErrorKind::TooLong
                | FieldErrorKind::TooMany
                | FieldErrorKind::TypeInvalid
        )
    }

    /// The error the real server adds instead of running CEL rules on a broken object.
    pub(super) fn cel_not_checked() -> Self {
        Self::new(
            FieldErrorKind::Invalid,
            "<nil>",
            Some(Value::Null),
            "some validation rules were not checked because the object was invalid; \
             correct the existing errors to complete validation",
        )
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for FieldError {}

/// Renders a bad value like `ErrorBody`: numbers and booleans with `%v`, strings with `%q`,
/// anything else as JSON (with sorted keys, like Go's `json.Marshal` of a map).
pub(super) fn render_value(value: &Value) -> String {
    match value {
        Value::Number(n) => n
            .as_f64()
            .filter(|_| n.is_f64())
            .map_or_else(|| n.to_string(), go_float),
        Value::Bool(b) => b.to_string(),
        other => serde_json::to_string(&sorted(other)).unwrap_or_default(),
    }
}

/// Formats a float like Go's `%v` (`strconv.FormatFloat(f, 'g', -1, 64)` with `%v`'s
/// exponent thresholds): `1.5`, `65535`, `1e+21`, `1e-05`.
pub(super) fn go_float(f: f64) -> String {
    let magnitude = f.abs();
    if magnitude != 0.0 && !(1e-4..1e21).contains(&magnitude) {
        let formatted = format!("{f:e}");
        let Some((mantissa, exponent)) = formatted.split_once('e') else {
            return formatted;
        };
        let (sign, digits) = exponent
            .strip_prefix('-')
            .map_or(("+", exponent), |digits| ("-", digits));
        format!("{mantissa}e{sign}{digits:0>2}")
    } else {
        format!("{f}")
    }
}

/// A copy of `value` with object keys sorted.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sorted(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}
