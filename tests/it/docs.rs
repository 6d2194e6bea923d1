//! The user docs against the code: `docs/reference.md` is what `tiered crd --reference`
//! prints today and names every field, rule and check of the CRD schemas.

use std::path::{Path, PathBuf};

use serde_json::Value;

const REGENERATE: &str = "run `scripts/generate.sh` (it runs `cargo run -- crd --reference > docs/reference.md`) and commit the result";

fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn generated_reference() -> String {
    tiered::cli::reference::markdown(&tiered::api::crds())
}

#[test]
fn docs_reference_matches_the_crd_schemas() {
    let path = repo_file("docs/reference.md");
    let on_disk = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} is missing ({e}): {REGENERATE}", path.display()));
    let generated = generated_reference();
    if on_disk != generated {
        let first_difference = on_disk
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || "one is a prefix of the other".to_owned(),
                |i| format!("line {}: {:?}", i + 1, generated.lines().nth(i)),
            );
        panic!("docs/reference.md is out of date ({first_difference}): {REGENERATE}");
    }
}

/// The section of `kind` in the reference: from `## Kind` to the next `## `.
fn kind_section<'a>(reference: &'a str, kind: &str) -> &'a str {
    let start = reference
        .find(&format!("\n## {kind}\n"))
        .unwrap_or_else(|| panic!("no section for {kind}"));
    let rest = &reference[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    &rest[..end]
}

/// Every field path under `node` (`spec.tiers[].name`, `spec.tags.<key>`), with its schema.
fn field_paths<'a>(node: &'a Value, prefix: &str, out: &mut Vec<(String, &'a Value)>) {
    let Some(properties) = node.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (name, child) in properties {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        out.push((path.clone(), child));
        if let Some(item) = child.get("items") {
            field_paths(item, &format!("{path}[]"), out);
        }
        if let Some(value) = child.get("additionalProperties") {
            field_paths(value, &format!("{path}.<key>"), out);
        }
        field_paths(child, &path, out);
    }
}

/// Every schema node under `node`, the node itself included.
fn all_nodes<'a>(node: &'a Value, out: &mut Vec<&'a Value>) {
    out.push(node);
    for key in ["items", "additionalProperties"] {
        if let Some(child @ Value::Object(_)) = node.get(key) {
            all_nodes(child, out);
        }
    }
    if let Some(properties) = node.get("properties").and_then(Value::as_object) {
        properties.values().for_each(|child| all_nodes(child, out));
    }
}

fn schemas() -> Vec<(String, Value)> {
    tiered::api::crds()
        .into_iter()
        .map(|crd| {
            let schema = serde_json::to_value(&crd.spec.versions[0].schema).unwrap();
            (
                crd.spec.names.kind.clone(),
                schema["openAPIV3Schema"].clone(),
            )
        })
        .collect()
}

/// Checks that the reference `section` of `kind` says each of `expected`, of which there
/// are more than `at_least` (so that a schema walk that finds nothing cannot pass).
fn assert_said(kind: &str, section: &str, expected: &[String], at_least: usize, what: &str) {
    assert!(
        expected.len() > at_least,
        "{kind}: only {} {what} found",
        expected.len()
    );
    let missing: Vec<&String> = expected
        .iter()
        .filter(|text| !section.contains(text.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{kind}: the reference does not say {missing:#?}"
    );
}

#[test]
fn the_reference_has_a_section_for_every_field_of_every_kind() {
    let reference = generated_reference();
    for (kind, root) in schemas() {
        let section = kind_section(&reference, &kind);
        let mut paths = Vec::new();
        field_paths(&root, "", &mut paths);
        let entries: Vec<String> = paths
            .iter()
            .map(|(path, _)| format!("# `{path}`\n"))
            .collect();
        assert_said(&kind, section, &entries, 20, "field entries");
    }
}

#[test]
fn the_reference_states_every_rule_message_pattern_enum_range_and_default() {
    let reference = generated_reference();
    for (kind, root) in schemas() {
        let section = kind_section(&reference, &kind);
        let mut nodes = Vec::new();
        all_nodes(&root, &mut nodes);
        let mut expected = Vec::new();
        for node in nodes {
            for rule in node["x-kubernetes-validations"]
                .as_array()
                .into_iter()
                .flatten()
            {
                expected.push(format!("`{}`", rule["rule"].as_str().unwrap()));
                if let Some(message) = rule["message"].as_str() {
                    expected.push(format!("\"{}\"", tiered::cli::reference::prose(message)));
                }
            }
            if let Some(pattern) = node["pattern"].as_str() {
                expected.push(format!("matches `{pattern}`"));
            }
            for value in node["enum"].as_array().into_iter().flatten() {
                expected.push(format!("`{}`", value.as_str().unwrap()));
            }
            for (key, word) in [("minimum", "minimum"), ("maximum", "maximum")] {
                if let Some(bound) = node[key].as_f64() {
                    expected.push(format!("{word} {bound}"));
                }
            }
            if let Some(default) = node.get("default") {
                expected.push(format!("default `{default}`"));
            }
        }
        assert_said(&kind, section, &expected, 10, "checks");
    }
}

#[test]
fn a_changed_field_description_makes_the_reference_differ() {
    // Guards the drift test: the generator reads the schema, so any change shows.
    let mut crds = tiered::api::crds();
    let before = tiered::cli::reference::markdown(&crds);
    let root = crds[0].spec.versions[0]
        .schema
        .as_mut()
        .and_then(|s| s.open_api_v3_schema.as_mut())
        .unwrap();
    let spec = root.properties.as_mut().unwrap().get_mut("spec").unwrap();
    spec.description = Some("a new description".into());
    let after = tiered::cli::reference::markdown(&crds);
    assert_ne!(before, after);
    assert!(after.contains("\na new description\n"));
}

// --- docs/troubleshooting.md: an entry for every reason the code can write ----------

/// Every `.rs` file under `dir`, with its text.
fn rust_sources(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            out.push((path, text));
        }
    }
}

/// The text from the `{` after `start` to its matching `}` (the code it is used on has
/// no braces in string literals).
fn braced_block(text: &str, start: usize) -> &str {
    let open = start + text[start..].find('{').unwrap();
    let mut depth = 0;
    for (offset, c) in text[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &text[open..=open + offset];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced braces after offset {start}")
}

/// The string literal that starts right at `text` (after whitespace and an optional `&`).
fn leading_literal(text: &str) -> Option<&str> {
    let rest = text
        .trim_start()
        .strip_prefix('&')
        .unwrap_or(text.trim_start());
    let rest = rest.strip_prefix('"')?;
    rest.find('"').map(|end| &rest[..end])
}

fn is_camel_case(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_uppercase())
        && text.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Every condition and Event reason the code under `src/` can write, with where it was
/// found: the constants of each `mod reasons`, the strings of each `fn reason(self) ->
/// &'static str` (the error categories), string literals passed as an Event's reason
/// after its `EventType::…`, and the literals of a `for (…, reason) in [ … ]` list.
fn reasons_in_code() -> std::collections::BTreeMap<String, String> {
    let mut sources = Vec::new();
    rust_sources(&repo_file("src"), &mut sources);
    let mut found = std::collections::BTreeMap::new();
    let mut add = |reason: &str, path: &Path, how: &str| {
        assert!(
            is_camel_case(reason),
            "{}: reason {reason:?} is not CamelCase",
            path.display()
        );
        found.entry(reason.to_owned()).or_insert_with(|| {
            format!(
                "{} ({how})",
                path.strip_prefix(repo_file("")).unwrap().display()
            )
        });
    };
    for (path, text) in &sources {
        for (start, _) in text.match_indices("mod reasons {") {
            for line in braced_block(text, start).lines() {
                let line = line.trim();
                if line.starts_with("pub const ")
                    && let Some((_, value)) = line.split_once(": &str = ")
                {
                    add(leading_literal(value).unwrap(), path, "a reason constant");
                }
            }
        }
        for pattern in [
            "fn reason(self) -> &'static str",
            "fn reason(&self) -> &'static str",
        ] {
            for (start, _) in text.match_indices(pattern) {
                let body = braced_block(text, start);
                for (arm, _) in body.match_indices("=> \"") {
                    add(
                        leading_literal(&body[arm + 3..]).unwrap(),
                        path,
                        "an error category",
                    );
                }
            }
        }
        for (start, _) in text.match_indices("EventType::") {
            let after = &text[start..];
            let Some(comma) = after.find(',') else {
                continue;
            };
            let variant = &after["EventType::".len()..comma];
            if variant.chars().all(|c| c.is_ascii_alphanumeric())
                && let Some(reason) = leading_literal(&after[comma + 1..])
            {
                add(reason, path, "an Event reason");
            }
        }
        for (start, _) in text.match_indices(", reason) in [") {
            let list = &text[start..];
            let list = &list[..list.find("] {").unwrap()];
            for (quote, _) in list.match_indices('"').step_by(2) {
                add(
                    leading_literal(&list[quote..]).unwrap(),
                    path,
                    "an Event reason",
                );
            }
        }
    }
    found
}

/// `### Name` headings of docs/troubleshooting.md, each with its text up to the next heading.
fn troubleshooting_entries() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo_file("docs/troubleshooting.md")).unwrap();
    let mut entries = Vec::new();
    let mut sections = text.split("\n### ").skip(1);
    for section in sections.by_ref() {
        let (heading, body) = section.split_once('\n').unwrap_or((section, ""));
        let body = body.split("\n## ").next().unwrap_or_default();
        entries.push((heading.trim().trim_matches('`').to_owned(), body.to_owned()));
    }
    entries
}

#[test]
fn the_reason_parser_finds_reasons_of_every_source() {
    // Guards the test below: if the code moves its reasons, the parser must follow.
    let found = reasons_in_code();
    for (reason, source) in [
        ("WaitingForDatabase", "a reason constant"),
        ("AwsInProgress", "a reason constant"),
        ("AWSAccessDenied", "an error category"),
        ("StatusWriteFailed", "an error category"),
        ("FinalSnapshot", "an Event reason"),
        ("PasswordRotated", "a reason constant"),
        ("Pruned", "an Event reason"),
    ] {
        let at = found
            .get(reason)
            .unwrap_or_else(|| panic!("the parser no longer finds {reason} ({source}): update reasons_in_code() to where the code keeps it now"));
        assert!(
            at.contains(source),
            "{reason} found as {at}, expected {source}"
        );
    }
    assert!(
        found.len() >= 40,
        "only {} reasons found: {found:#?}",
        found.len()
    );
}

#[test]
fn every_reason_in_the_code_has_a_troubleshooting_entry() {
    let entries = troubleshooting_entries();
    let documented: std::collections::BTreeSet<&str> =
        entries.iter().map(|(name, _)| name.as_str()).collect();
    let missing: Vec<String> = reasons_in_code()
        .into_iter()
        .filter(|(reason, _)| !documented.contains(reason.as_str()))
        .map(|(reason, at)| format!("{reason} from {at}"))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/troubleshooting.md has no `### <Reason>` entry (with **Means:** and **Do:**) for: {missing:#?}"
    );
}

#[test]
fn every_troubleshooting_entry_is_a_reason_the_code_writes_and_says_what_to_do() {
    let code = reasons_in_code();
    for (name, body) in troubleshooting_entries() {
        if !is_camel_case(&name) {
            continue; // a group heading such as "Changes (Normal Events)"
        }
        assert!(
            code.contains_key(&name),
            "docs/troubleshooting.md: {name} is not a reason the code writes any more; remove or rename the entry"
        );
        for part in ["**Means:**", "**Do:**"] {
            let text = body.split(part).nth(1).map(str::trim).unwrap_or_default();
            assert!(
                text.len() >= 5,
                "docs/troubleshooting.md: {name} needs a `{part}` paragraph"
            );
        }
    }
}
