//! Label and field selectors as the API server parses them from `labelSelector` and
//! `fieldSelector` query parameters: the label grammar of upstream `labels.Parse`, with its
//! refusals (400 `unable to parse requirement`), and matching.

use std::collections::BTreeSet;

use serde_json::Value;

use super::status::ApiError;
use super::validation::format::{label_value, qualified_name};

/// A parsed `labelSelector`.
#[derive(Debug, Clone, Default)]
pub struct LabelSelector(Vec<Requirement>);

/// What a field selector term reads from a stored object.
#[derive(Debug, Clone)]
pub enum Field {
    /// A dotted JSON path (`metadata.name`, `involvedObject.uid`).
    Path(String),
    /// A value the kind computes (a core Event's `source`).
    Computed(fn(&Value) -> String),
}

/// A parsed `fieldSelector`: `(field, wanted value, equal?)` terms.
#[derive(Debug, Clone, Default)]
pub struct FieldSelector(Vec<(Field, String, bool)>);

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

/// A token of the label selector grammar (upstream `labels.Lexer`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    End,
    Identifier(String),
    /// `!`
    Not,
    /// `=`, `==`, `!=`, `>`, `<`
    Operator(&'static str),
    Comma,
    Open,
    Close,
}

impl Token {
    /// How upstream's messages quote the token (`found '%s'`).
    fn literal(&self) -> &str {
        match self {
            Self::End => "",
            Self::Identifier(text) => text,
            Self::Not => "!",
            Self::Operator(op) => op,
            Self::Comma => ",",
            Self::Open => "(",
            Self::Close => ")",
        }
    }
}

/// Splits a selector into tokens: identifiers are runs of anything but whitespace and
/// `! = , ( ) < >`.
fn tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let token = match c {
            c if c.is_whitespace() => continue,
            ',' => Token::Comma,
            '(' => Token::Open,
            ')' => Token::Close,
            '>' => Token::Operator(">"),
            '<' => Token::Operator("<"),
            '!' if chars.next_if_eq(&'=').is_some() => Token::Operator("!="),
            '!' => Token::Not,
            '=' if chars.next_if_eq(&'=').is_some() => Token::Operator("=="),
            '=' => Token::Operator("="),
            first => {
                let mut identifier = String::from(first);
                while let Some(next) =
                    chars.next_if(|c| !c.is_whitespace() && !"!=,()<>".contains(*c))
                {
                    identifier.push(next);
                }
                Token::Identifier(identifier)
            }
        };
        out.push(token);
    }
    out.push(Token::End);
    out
}

/// One requirement of a label selector (upstream `labels.Requirement`).
#[derive(Debug, Clone)]
enum Requirement {
    In(String, BTreeSet<String>),
    NotIn(String, BTreeSet<String>),
    Exists(String),
    DoesNotExist(String),
    Equal(String, String),
    NotEqual(String, String),
    GreaterThan(String, i64),
    LessThan(String, i64),
}

/// The parser of upstream `labels.Parse`, with its messages.
struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        self.tokens.get(self.at).unwrap_or(&Token::End)
    }

    fn next(&mut self) -> Token {
        let token = self.peek().clone();
        self.at += 1;
        token
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, String> {
        let mut requirements = Vec::new();
        loop {
            match self.peek() {
                Token::End => return Ok(requirements),
                Token::Identifier(_) | Token::Not => {
                    let requirement = self
                        .requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    requirements.push(requirement);
                    match self.next() {
                        Token::End => return Ok(requirements),
                        Token::Comma => {
                            if !matches!(self.peek(), Token::Identifier(_) | Token::Not) {
                                return Err(format!(
                                    "found '{}', expected: identifier after ','",
                                    self.peek().literal()
                                ));
                            }
                        }
                        other => {
                            return Err(format!(
                                "found '{}', expected: ',' or 'end of string'",
                                other.literal()
                            ));
                        }
                    }
                }
                other => {
                    return Err(format!(
                        "found '{}', expected: !, identifier, or 'end of string'",
                        other.literal()
                    ));
                }
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        let negated = self.peek() == &Token::Not;
        if negated {
            self.next();
        }
        let key = match self.next() {
            Token::Identifier(key) => key,
            other => return Err(format!("found '{}', expected: identifier", other.literal())),
        };
        let errors = qualified_name(&key);
        if !errors.is_empty() {
            return Err(format!(
                "key: Invalid value: {key:?}: {}",
                errors.join("; ")
            ));
        }
        if negated {
            return Ok(Requirement::DoesNotExist(key));
        }
        if matches!(self.peek(), Token::End | Token::Comma) {
            return Ok(Requirement::Exists(key));
        }
        let operator = match self.next() {
            Token::Operator(op) => op,
            Token::Identifier(word) if word == "in" => "in",
            Token::Identifier(word) if word == "notin" => "notin",
            other => {
                return Err(format!(
                    "found '{}', expected: in, notin, =, ==, !=, gt, lt",
                    other.literal()
                ));
            }
        };
        let values = if matches!(operator, "in" | "notin") {
            self.set()?
        } else {
            vec![self.exact_value()?]
        };
        for (index, value) in values.iter().enumerate() {
            let errors = label_value(value);
            if !errors.is_empty() {
                return Err(format!(
                    "values[{index}][{key}]: Invalid value: {value:?}: {}",
                    errors.join("; ")
                ));
            }
        }
        let integer = |values: &[String]| {
            values
                .first()
                .and_then(|v| v.parse::<i64>().ok())
                .ok_or_else(|| "for 'Gt', 'Lt' operators, the value must be an integer".to_owned())
        };
        Ok(match operator {
            "in" | "notin" if values.is_empty() => {
                return Err("for 'in', 'notin' operators, values set can't be empty".to_owned());
            }
            "in" => Requirement::In(key, values.into_iter().collect()),
            "notin" => Requirement::NotIn(key, values.into_iter().collect()),
            ">" => Requirement::GreaterThan(key, integer(&values)?),
            "<" => Requirement::LessThan(key, integer(&values)?),
            "!=" => Requirement::NotEqual(key, values.concat()),
            _ => Requirement::Equal(key, values.concat()),
        })
    }

    /// The value after `=`, `==`, `!=`, `>`, `<`: an identifier, or empty before `,` or
    /// the end.
    fn exact_value(&mut self) -> Result<String, String> {
        if matches!(self.peek(), Token::End | Token::Comma) {
            return Ok(String::new());
        }
        match self.next() {
            Token::Identifier(value) => Ok(value),
            other => Err(format!("found '{}', expected: identifier", other.literal())),
        }
    }

    /// `( v1, v2 )` after `in` / `notin` (an empty value between commas counts, as
    /// upstream).
    fn set(&mut self) -> Result<Vec<String>, String> {
        match self.next() {
            Token::Open => {}
            other => return Err(format!("found '{}', expected: '('", other.literal())),
        }
        let mut values = Vec::new();
        let mut after_value = false;
        loop {
            match self.next() {
                Token::Identifier(value) if !after_value => {
                    values.push(value);
                    after_value = true;
                }
                Token::Comma => {
                    if !after_value {
                        values.push(String::new());
                    }
                    after_value = false;
                    if self.peek() == &Token::Close {
                        values.push(String::new());
                    }
                }
                Token::Close => return Ok(values),
                other if after_value => {
                    return Err(format!("found '{}', expected: ',' or ')'", other.literal()));
                }
                other => {
                    return Err(format!(
                        "found '{}', expected: ',', ')' or identifier",
                        other.literal()
                    ));
                }
            }
        }
    }
}

/// `labels.Selector.String()` of a selector made by [`LabelSelector::from_spec`]
/// (`LabelSelectorAsSelector` sorts the requirements by key): `k=v`, `k!=v`, `k in
/// (a,b)`, `k notin (a,b)`, `k`, `!k`, `k>n`, `k<n`, joined by commas; "" when empty.
/// What a `Scale`'s `status.selector` holds.
impl std::fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = |r: &Requirement| match r {
            Requirement::In(k, _)
            | Requirement::NotIn(k, _)
            | Requirement::Exists(k)
            | Requirement::DoesNotExist(k)
            | Requirement::Equal(k, _)
            | Requirement::NotEqual(k, _)
            | Requirement::GreaterThan(k, _)
            | Requirement::LessThan(k, _) => k.clone(),
        };
        let mut requirements: Vec<&Requirement> = self.0.iter().collect();
        requirements.sort_by_key(|r| key(r));
        let set = |values: &BTreeSet<String>| values.iter().cloned().collect::<Vec<_>>().join(",");
        let printed: Vec<String> = requirements
            .into_iter()
            .map(|r| match r {
                Requirement::In(k, v) => format!("{k} in ({})", set(v)),
                Requirement::NotIn(k, v) => format!("{k} notin ({})", set(v)),
                Requirement::Exists(k) => k.clone(),
                Requirement::DoesNotExist(k) => format!("!{k}"),
                Requirement::Equal(k, v) => format!("{k}={v}"),
                Requirement::NotEqual(k, v) => format!("{k}!={v}"),
                Requirement::GreaterThan(k, n) => format!("{k}>{n}"),
                Requirement::LessThan(k, n) => format!("{k}<{n}"),
            })
            .collect();
        f.write_str(&printed.join(","))
    }
}

impl LabelSelector {
    /// Parses a `labelSelector` as upstream `labels.Parse` does (`a=b`, `a==b`, `a!=b`,
    /// `a in (b,c)`, `a notin (b)`, `a`, `!a`, `a>1`, `a<1`), refusing what it refuses
    /// with its messages: a syntax error, a key that is not a qualified name, a value that
    /// is not a label value, an empty set, a non-integer after `>` / `<`; 400 BadRequest.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let mut parser = Parser {
            tokens: tokens(s),
            at: 0,
        };
        parser.parse().map(Self).map_err(ApiError::bad_request)
    }

    /// A `metav1.LabelSelector` object (`matchLabels`, `matchExpressions` with `In`,
    /// `NotIn`, `Exists`, `DoesNotExist`), as a Deployment's `spec.selector` holds it.
    pub fn from_spec(selector: &Value) -> Self {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let mut exprs: Vec<Requirement> = selector["matchLabels"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(key, value)| Requirement::Equal(key.clone(), text(value)))
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
                "In" => Requirement::In(key, values),
                "NotIn" => Requirement::NotIn(key, values),
                "Exists" => Requirement::Exists(key),
                _ => Requirement::DoesNotExist(key),
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
            Requirement::In(key, values) => label(key).is_some_and(|v| values.contains(v)),
            Requirement::NotIn(key, values) => label(key).is_none_or(|v| !values.contains(v)),
            Requirement::Exists(key) => label(key).is_some(),
            Requirement::DoesNotExist(key) => label(key).is_none(),
            Requirement::Equal(key, value) => label(key) == Some(value.as_str()),
            Requirement::NotEqual(key, value) => label(key) != Some(value.as_str()),
            Requirement::GreaterThan(key, bound) => label(key)
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v > *bound),
            Requirement::LessThan(key, bound) => label(key)
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v < *bound),
        })
    }
}

impl FieldSelector {
    /// Parses `metadata.name=x,metadata.namespace!=y`; `resolve` gives the field a label
    /// selects in the stored objects of the kind, `None` for labels the kind does not
    /// support (a 400, as upstream's field label conversion).
    pub fn parse(s: &str, resolve: impl Fn(&str) -> Option<Field>) -> Result<Self, ApiError> {
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
            let field = resolve(path).ok_or_else(|| {
                ApiError::bad_request(format!("field label not supported: {path}"))
            })?;
            terms.push((field, value.trim().to_owned(), equal));
        }
        Ok(Self(terms))
    }

    /// Whether an object's fields match.
    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|(field, wanted, equal)| {
            let actual = match field {
                Field::Computed(value) => value(object),
                Field::Path(path) => {
                    let mut v = object;
                    for part in path.split('.') {
                        v = &v[part];
                    }
                    match v {
                        Value::String(s) => s.clone(),
                        Value::Null => String::new(),
                        other => other.to_string(),
                    }
                }
            };
            (actual == *wanted) == *equal
        })
    }
}
