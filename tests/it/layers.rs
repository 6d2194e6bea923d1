//! The layering of `src/` (docs/architecture.md): every module belongs to one layer and
//! names only its own layer or those below it, `api → aws → runtime → controllers →
//! process → cli`. Read from the source text, so the layout cannot rot silently:
//! `crate::<layer>` paths in `use` lines and in code (grouped ones too), and `super::`
//! chains that climb to the crate root. Comments and string literals do not count.

use std::path::{Path, PathBuf};

/// The layers, lowest first.
const LAYERS: [&str; 6] = ["api", "aws", "runtime", "controllers", "process", "cli"];

/// Upward names that exist today and are being removed elsewhere (issue 8). Each entry
/// must still occur: when it is fixed, the test fails until the entry goes too.
/// Upward names tolerated for now, each with its reason; empty since the controllers
/// moved APPLIED_HASH below them. The test fails when an entry here is fixed, so the list
/// only shrinks.
const KNOWN: [&str; 0] = [];

/// Files of `src/` that belong to no layer: the crate root and the binary's `main`.
const ROOTS: [&str; 2] = ["lib.rs", "main.rs"];

fn rank(layer: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == layer)
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `source` with comments removed and the contents of string and char literals blanked
/// (the quotes stay), so that only code is left to search.
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let after_ident = i > 0 && is_ident(chars[i - 1]);
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r' && !after_ident && matches!(next, Some('"' | '#')) {
            // A raw string `r"…"`, `r#"…"#`; `r#ident` is a raw identifier.
            let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
            if chars.get(i + 1 + hashes) == Some(&'"') {
                let closing: String = std::iter::once('"')
                    .chain(std::iter::repeat_n('#', hashes))
                    .collect();
                let body_start = i + 2 + hashes;
                let rest: String = chars[body_start..].iter().collect();
                let end = rest.find(&closing).map_or(chars.len(), |at| {
                    body_start + rest[..at].chars().count() + closing.chars().count()
                });
                out.push_str("\"\"");
                i = end;
            } else {
                out.push(c);
                i += 1;
            }
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            out.push_str("\"\"");
            i += 1;
        } else if c == '\'' && (next == Some('\\') || chars.get(i + 2) == Some(&'\'')) {
            // A char literal; a lifetime (`'a`) has no closing quote after one char.
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            out.push_str("' '");
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The first path segments after `at` in `code`: one ident, or each item of a
/// `{a, b::c, d as e}` group.
fn first_segments(code: &str, at: usize) -> Vec<String> {
    let rest = code[at..].trim_start();
    if let Some(group) = rest.strip_prefix('{') {
        let mut depth = 0;
        let mut items = vec![String::new()];
        for c in group.chars() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => items.push(String::new()),
                _ => {}
            }
            if let Some(item) = items.last_mut() {
                item.push(c);
            }
        }
        items
            .iter()
            .filter_map(|item| {
                let item = item.trim_start_matches(',').trim_start();
                let ident: String = item.chars().take_while(|&c| is_ident(c)).collect();
                (!ident.is_empty() && ident != "self").then_some(ident)
            })
            .collect()
    } else {
        let ident: String = rest.chars().take_while(|&c| is_ident(c)).collect();
        if ident.is_empty() {
            Vec::new()
        } else {
            vec![ident]
        }
    }
}

/// Where a path starts: not after an identifier character, `$` (`$crate`) or `::`.
fn starts_path(code: &str, at: usize) -> bool {
    let before = &code[..at];
    !before.ends_with("::")
        && !before
            .chars()
            .next_back()
            .is_some_and(|c| is_ident(c) || c == '$')
}

/// The top-level modules that `code` names: through `crate::`, and through `super::`
/// chains at least `depth` long (the file's module depth below the crate root).
fn named_top_modules(code: &str, depth: usize) -> Vec<String> {
    let mut named = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        if starts_path(code, at) {
            named.extend(first_segments(code, at + "crate::".len()));
        }
    }
    for (at, _) in code.match_indices("super::") {
        if !starts_path(code, at) {
            continue;
        }
        let mut end = at;
        let mut climbs = 0;
        while code[end..].starts_with("super::") {
            end += "super::".len();
            climbs += 1;
        }
        if climbs >= depth {
            // Only layer names count: a `super::` from an inline `mod tests` climbs one
            // level less than the file's depth says, and must not be taken for one.
            named.extend(
                first_segments(code, end)
                    .into_iter()
                    .filter(|segment| rank(segment).is_some()),
            );
        }
    }
    named
}

/// The layer of `relative` (a path below `src/`) and its module depth, or `None` for the
/// crate root files.
fn layer_of(relative: &Path) -> Option<(String, usize)> {
    let parts: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    if parts.len() == 1 && ROOTS.contains(&parts[0].as_str()) {
        return None;
    }
    let mut depth = parts.len();
    if parts.last().is_some_and(|file| file == "mod.rs") {
        depth -= 1;
    }
    Some((parts[0].trim_end_matches(".rs").to_owned(), depth))
}

/// What is wrong with one file: upward names, or a file outside every layer.
fn violations(relative: &Path, source: &str) -> Vec<String> {
    let Some((layer, depth)) = layer_of(relative) else {
        return Vec::new();
    };
    let Some(own) = rank(&layer) else {
        return vec![format!(
            "src/{}: belongs to no layer (expected one of {LAYERS:?})",
            relative.display()
        )];
    };
    let mut found: Vec<String> = named_top_modules(&code_only(source), depth)
        .into_iter()
        .filter(|named| rank(named).is_some_and(|theirs| theirs > own))
        .map(|named| format!("src/{}: {layer} names {named}", relative.display()))
        .collect();
    found.sort_unstable();
    found.dedup();
    found
}

fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

#[test]
fn no_module_of_src_names_a_higher_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    assert!(files.len() > 50, "src/ was read: {} files", files.len());
    let found: Vec<String> = files
        .iter()
        .flat_map(|file| {
            let relative = file.strip_prefix(&src).unwrap();
            violations(relative, &std::fs::read_to_string(file).unwrap())
        })
        .collect();
    let upward: Vec<&String> = found
        .iter()
        .filter(|v| !KNOWN.contains(&v.as_str()))
        .collect();
    assert!(
        upward.is_empty(),
        "imports running up the layers {LAYERS:?}:\n{}",
        upward
            .iter()
            .map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let fixed: Vec<&str> = KNOWN
        .into_iter()
        .filter(|known| !found.iter().any(|v| v == known))
        .collect();
    assert!(fixed.is_empty(), "fixed, so remove from KNOWN: {fixed:?}");
}

#[test]
fn upward_names_are_found_in_use_lines_groups_and_code() {
    let cases: [(&str, &str, &[&str]); 8] = [
        (
            "aws/tags.rs",
            "use crate::controllers::data_tier::Outline;",
            &["controllers"],
        ),
        (
            "aws/tags.rs",
            "use crate::{api::shared::TAG_PREFIX, runtime::events::Recorder};",
            &["runtime"],
        ),
        (
            "api/mod.rs",
            "use crate::{\n    aws::{naming, tags},\n    cli::Cli as C,\n};",
            &["aws", "cli"],
        ),
        (
            "runtime/error.rs",
            "fn f() -> String { crate::process::run::name() }",
            &["process"],
        ),
        (
            "controllers/x/y.rs",
            "use super::super::super::cli::Cli;",
            &["cli"],
        ),
        ("process/run.rs", "use crate::controllers::tiered_app;", &[]),
        (
            "cli/render.rs",
            "use crate::{api, aws, runtime, controllers, process};",
            &[],
        ),
        ("lib.rs", "pub use crate::cli::Cli;", &[]),
    ];
    for (file, source, expected) in cases {
        let found = violations(Path::new(file), source);
        let named: Vec<&str> = found
            .iter()
            .map(|line| line.rsplit(' ').next().unwrap())
            .collect();
        assert_eq!(named, expected, "{file}: {source}");
    }
}

#[test]
fn comments_strings_and_lookalikes_are_not_imports() {
    let source = r##"
//! See [`crate::cli`] for the command line.
/* crate::process::run */
/// Docs naming crate::controllers.
pub(crate) fn f<'a>(x: &'a str) -> &'a str {
    let _ = "crate::cli::run";
    let _ = r#"crate::process "quoted" "#;
    let _ = '"';
    let _ = my_crate::cli::run;
    let _ = $crate::cli::run;
    let _ = super::cli::run; // one level up from api/shared.rs is api
    x
}
"##;
    assert_eq!(
        violations(Path::new("api/shared.rs"), source),
        Vec::<String>::new()
    );
    // The same names as code are found.
    let code = "fn f() { crate::cli::run(); let _ = '\\''; crate::process::run(); }";
    assert_eq!(violations(Path::new("api/shared.rs"), code).len(), 2);
}

#[test]
fn a_file_outside_every_layer_is_reported() {
    assert_eq!(
        violations(Path::new("util.rs"), "fn f() {}"),
        [
            "src/util.rs: belongs to no layer (expected one of [\"api\", \"aws\", \"runtime\", \"controllers\", \"process\", \"cli\"])"
        ]
    );
    assert!(violations(Path::new("main.rs"), "use crate::cli::Cli;").is_empty());
}
