//! The crate's architecture, checked by reading its source (after
//! rust-analyzer's tidy tests). A violation fails `cargo test` with the file
//! and the rule:
//!
//! - **Layers.** Top-level modules form a DAG, given bottom first in
//!   [`LAYERS`]: a module imports only modules of lower layers.
//! - **No two files import each other.**
//! - **Import bans.** async-openai only in `agent/llm.rs`, slack-morphism only
//!   in `adapters/slack/`, serenity only in `adapters/discord/`; tools never
//!   import an adapter.
//! - **Pure cores** import no IO and read no clock.
//! - **Small files.** No file has more than [`MAX_CODE_LINES`] lines of code
//!   outside its unit tests.
//! - **README's invariants** each name a test that exists.
//!
//! "Imports" means any path into another module, in a `use` or inline
//! (`crate::x::f()`, `super::y::T`, `child::g()`), outside `#[cfg(test)]`
//! modules; comments and string literals are not read.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level modules, bottom layer first. A module may import modules of
/// lower layers only; modules of one layer do not import each other.
const LAYERS: &[&[&str]] = &[
    // Vocabulary and settings: import nothing of the crate above them.
    &["canonical", "clock", "domain", "secret", "text"],
    &["config", "i18n", "redact"],
    // The model's prompts name languages in the catalogue's words.
    &["egress", "prompts", "rbac", "store"],
    &["audit", "governance", "telemetry"],
    // The quant platform port and how its data reads for people.
    &["platform"],
    &["presentation"],
    &["tools"],
    &["planner"],
    &["agent"],
    &["jobs", "turn"],
    // Chat surfaces and reports.
    &["adapters", "admin", "eval"],
    &["app"],
    &["check", "console", "server"],
    &["cli"],
];

/// Crates only one place may use: (crate, the path prefix allowed to).
const CRATE_HOMES: &[(&str, &str)] = &[
    ("async_openai", "src/agent/llm.rs"),
    ("slack_morphism", "src/adapters/slack/"),
    ("serenity", "src/adapters/discord/"),
];

/// Files that do no IO and read no clock (time comes in as an argument).
const PURE_CORES: &[&str] = &[
    "src/rbac.rs",
    "src/planner/intent.rs",
    "src/planner/keywords.rs",
    "src/planner/slots.rs",
    "src/planner/spelling.rs",
    "src/planner/calendar.rs",
    "src/planner/names.rs",
    "src/planner/negation.rs",
    "src/planner/rank.rs",
    "src/planner/several.rs",
    "src/planner/unapplied.rs",
    "src/tools/compact.rs",
    "src/tools/symbols.rs",
    "src/agent/offer.rs",
    "src/agent/commands.rs",
    "src/agent/machine.rs",
    "src/platform/sandbox/engine.rs",
    "src/jobs/schedule.rs",
    "src/presentation.rs",
    "src/eval/score.rs",
    "src/agent/fact_check.rs",
];

/// What a pure core may not name.
const IMPURE: &[&str] = &[
    "tokio::",
    "reqwest::",
    "mongodb::",
    "rusqlite::",
    "hyper::",
    "axum::",
    "std::fs",
    "std::net",
    "std::process",
    "std::env",
    "std::thread",
    "File::",
    "now()",
    "clock::",
];

/// Where the bot's sentences live: only these files branch on the language
/// or define a [`chatops::i18n::Phrase`] (`domain.rs` defines `Language`).
const SENTENCE_HOMES: &[&str] = &["src/i18n.rs", "src/i18n/", "src/domain.rs"];

/// What only [`SENTENCE_HOMES`] may write (whitespace squeezed out).
const SENTENCE_MARKS: &[&str] = &["Language::En=>", "Language::Ko=>", "Phrase::new("];

const MAX_CODE_LINES: usize = 700;

/// Files still over [`MAX_CODE_LINES`], with their size when this list was
/// made: they may shrink, never grow, and leave the list when they fit.
const OVERSIZED: &[(&str, usize)] = &[];

// ---------------------------------------------------------------- reading

/// `src` with comments, string and char literals blanked out (lengths and
/// line breaks kept), so only code is read.
fn code_only(src: &str) -> String {
    let chars: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if (c == 'r' || (c == 'b' && next == Some('r')))
            && !chars[..i]
                .last()
                .is_some_and(|p| p.is_alphanumeric() || *p == '_')
            && {
                let start = if c == 'b' { i + 2 } else { i + 1 };
                let mut j = start;
                while chars.get(j) == Some(&'#') {
                    j += 1;
                }
                chars.get(j) == Some(&'"')
            }
        {
            // Raw string: r"…", r#"…"#, br"…".
            let mut j = if c == 'b' { i + 2 } else { i + 1 };
            let mut hashes = 0;
            while chars[j] == '#' {
                hashes += 1;
                j += 1;
            }
            j += 1; // the opening quote
            out.push('"');
            for _ in i + 1..j {
                out.push(' ');
            }
            loop {
                if j >= chars.len() {
                    break;
                }
                if chars[j] == '"' && (0..hashes).all(|h| chars.get(j + 1 + h) == Some(&'#')) {
                    out.push('"');
                    for _ in 0..hashes {
                        out.push(' ');
                    }
                    j += 1 + hashes;
                    break;
                }
                out.push(blank(chars[j]));
                j += 1;
            }
            i = j;
        } else if c == '"' {
            out.push('"');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            out.push('"');
            i += 1;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\''), or a lifetime ('a).
            let is_char = matches!(
                (next, chars.get(i + 2)),
                (Some('\\'), _) | (Some(_), Some('\''))
            );
            if is_char {
                let mut j = i + 1;
                if chars[j] == '\\' {
                    j += 1;
                }
                j += 1;
                while j < chars.len() && chars[j] != '\'' {
                    j += 1;
                }
                for _ in i..=j.min(chars.len() - 1) {
                    out.push(' ');
                }
                i = j + 1;
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// `code` without its `#[cfg(test)]` items (unit test modules).
fn without_unit_tests(code: &str) -> String {
    let mut out = code.to_string();
    while let Some(at) = out.find("#[cfg(test)]") {
        let rest = &out[at..];
        // The item ends at its block's closing brace, or at `;`.
        let mut depth = 0usize;
        let mut end = rest.len();
        for (i, c) in rest.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                ';' if depth == 0 => {
                    end = i + 1;
                    break;
                }
                _ => {}
            }
        }
        let lines = rest[..end].matches('\n').count();
        out.replace_range(at..at + end, &"\n".repeat(lines));
    }
    out
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Every path written in `code` (`a::b::c`), with `use` trees expanded
/// (`use a::{b, c::d}` gives `a::b` and `a::c::d`).
fn paths(code: &str) -> Vec<Vec<String>> {
    let tokens = tokenize(code);
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if tokens[i] == "use" {
            let end = tokens[i..]
                .iter()
                .position(|t| t == ";")
                .map_or(tokens.len(), |p| i + p);
            expand_use(&tokens[i + 1..end], &[], &mut out);
            i = end;
            continue;
        }
        if is_ident(&tokens[i]) && tokens.get(i + 1).is_some_and(|t| t == "::") {
            let preceded_by_sep = i > 0 && tokens[i - 1] == "::";
            if !preceded_by_sep {
                let mut path = vec![tokens[i].clone()];
                let mut j = i + 1;
                while tokens.get(j).is_some_and(|t| t == "::")
                    && tokens.get(j + 1).is_some_and(|t| is_ident(t))
                {
                    path.push(tokens[j + 1].clone());
                    j += 2;
                }
                out.push(path);
                i = j;
                continue;
            }
        }
        i += 1;
    }
    out
}

fn is_ident(t: &str) -> bool {
    t.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && t.chars().all(is_ident_char)
}

fn tokenize(code: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if is_ident_char(c) {
            let start = i;
            while i < chars.len() && is_ident_char(chars[i]) {
                i += 1;
            }
            tokens.push(chars[start..i].iter().collect());
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            tokens.push("::".into());
            i += 2;
        } else {
            tokens.push(c.to_string());
            i += 1;
        }
    }
    tokens
}

/// Expand one use tree (tokens between `use` and `;`).
fn expand_use(tokens: &[String], prefix: &[String], out: &mut Vec<Vec<String>>) {
    let mut i = 0;
    let mut path = prefix.to_vec();
    while i < tokens.len() {
        let t = &tokens[i];
        if t == "{" {
            // Split the group at top-level commas.
            let mut depth = 0;
            let mut start = i + 1;
            let mut j = i;
            while j < tokens.len() {
                match tokens[j].as_str() {
                    "{" => depth += 1,
                    "}" => {
                        depth -= 1;
                        if depth == 0 {
                            expand_use(&tokens[start..j], &path, out);
                            break;
                        }
                    }
                    "," if depth == 1 => {
                        expand_use(&tokens[start..j], &path, out);
                        start = j + 1;
                    }
                    _ => {}
                }
                j += 1;
            }
            return;
        } else if t == "as" || t == "*" {
            break;
        } else if is_ident(t) && t != "pub" {
            if t == "self" && !path.is_empty() && tokens.get(i + 1).is_none() {
                // `use a::{self}` is `a`.
            } else {
                path.push(t.clone());
            }
        }
        i += 1;
    }
    if !path.is_empty() {
        out.push(path);
    }
}

// ---------------------------------------------------------------- the model

struct SourceFile {
    /// `src/adapters/slack/web.rs`.
    path: String,
    /// `["adapters", "slack", "web"]`; `[]` for `lib.rs` and `main.rs`.
    module: Vec<String>,
    /// Code outside unit tests, comments and literals blanked.
    code: String,
}

fn module_of(path: &str) -> Vec<String> {
    let rel = path.trim_start_matches("src/").trim_end_matches(".rs");
    let mut parts: Vec<String> = rel.split('/').map(String::from).collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

fn parse_files(files: &[(String, String)]) -> Vec<SourceFile> {
    files
        .iter()
        .map(|(path, text)| SourceFile {
            path: path.clone(),
            module: module_of(path),
            code: without_unit_tests(&code_only(text)),
        })
        .collect()
}

/// The modules (files) `file` refers to.
fn imports(file: &SourceFile, modules: &BTreeMap<Vec<String>, String>) -> BTreeSet<Vec<String>> {
    let mut out = BTreeSet::new();
    for path in paths(&file.code) {
        let absolute: Vec<String> = match path[0].as_str() {
            "crate" => path[1..].to_vec(),
            "super" | "self" => {
                let mut base = file.module.clone();
                let mut rest = &path[..];
                while let Some(first) = rest.first() {
                    match first.as_str() {
                        "super" => {
                            base.pop();
                        }
                        "self" => {}
                        _ => break,
                    }
                    rest = &rest[1..];
                }
                base.extend(rest.iter().cloned());
                base
            }
            first => {
                let mut child = file.module.clone();
                child.push(first.to_string());
                if !modules.contains_key(&child) {
                    continue;
                }
                let mut base = file.module.clone();
                base.extend(path.iter().cloned());
                base
            }
        };
        // The longest prefix that is a file of the crate.
        let target = (1..=absolute.len())
            .rev()
            .map(|n| absolute[..n].to_vec())
            .find(|p| modules.contains_key(p));
        if let Some(target) = target
            && target != file.module
        {
            out.insert(target);
        }
    }
    out
}

/// Every architecture rule `files` (path, text) breaks, one line each.
fn violations(files: &[(String, String)], readme: Option<&str>) -> Vec<String> {
    let files = parse_files(files);
    let modules: BTreeMap<Vec<String>, String> = files
        .iter()
        .map(|f| (f.module.clone(), f.path.clone()))
        .collect();
    let layer_of = |m: &str| LAYERS.iter().position(|l| l.contains(&m));
    let mut found = Vec::new();
    let mut graph: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();

    for file in &files {
        let Some(own_top) = file.module.first() else {
            continue; // lib.rs / main.rs declare the modules
        };
        let Some(own_layer) = layer_of(own_top) else {
            found.push(format!(
                "{}: top-level module `{own_top}` is in no layer of LAYERS",
                file.path
            ));
            continue;
        };
        for target in imports(file, &modules) {
            let target_file = &modules[&target];
            graph
                .entry(&file.path)
                .or_default()
                .insert(target_file.clone());
            let Some(top) = target.first() else { continue };
            if top == own_top {
                continue;
            }
            match layer_of(top) {
                Some(layer) if layer < own_layer => {}
                Some(_) => found.push(format!(
                    "{}: imports `{}`, which is not below `{own_top}` in LAYERS",
                    file.path,
                    target.join("::")
                )),
                None => found.push(format!(
                    "{}: imports `{top}`, which is in no layer of LAYERS",
                    file.path
                )),
            }
            if file.path.starts_with("src/tools/") && top == "adapters" {
                found.push(format!("{}: a tool imports an adapter", file.path));
            }
        }
        let tokens: BTreeSet<String> = tokenize(&file.code).into_iter().collect();
        for (krate, home) in CRATE_HOMES {
            if tokens.contains(*krate) && !file.path.starts_with(home) {
                found.push(format!(
                    "{}: uses `{krate}`, which only {home} may use",
                    file.path
                ));
            }
        }
        if PURE_CORES.contains(&file.path.as_str()) {
            let squeezed: String = file.code.split_whitespace().collect();
            for word in IMPURE {
                if squeezed.contains(word) {
                    found.push(format!(
                        "{}: a pure core names `{word}` (IO or the clock)",
                        file.path
                    ));
                }
            }
        }
        if !SENTENCE_HOMES
            .iter()
            .any(|home| file.path.starts_with(home))
        {
            let squeezed: String = file.code.split_whitespace().collect();
            for mark in SENTENCE_MARKS {
                if squeezed.contains(mark) {
                    found.push(format!(
                        "{}: writes `{mark}`; the bot's sentences live in src/i18n",
                        file.path
                    ));
                }
            }
        }
        let lines = file.code.lines().filter(|l| !l.trim().is_empty()).count();
        let allowed = OVERSIZED
            .iter()
            .find(|(p, _)| *p == file.path)
            .map_or(MAX_CODE_LINES, |(_, n)| *n);
        if lines > allowed {
            found.push(format!(
                "{}: {lines} lines of code outside unit tests (at most {allowed}); split it by what each part owns",
                file.path
            ));
        }
    }
    for (a, targets) in &graph {
        for b in targets {
            if a < &b.as_str() && graph.get(b.as_str()).is_some_and(|t| t.contains(*a)) {
                found.push(format!("{a} and {b} import each other"));
            }
        }
    }
    if let Some(readme) = readme {
        found.extend(unchecked_invariants(readme, &files));
    }
    found
}

/// README's invariants that name no test, or a test that does not exist.
fn unchecked_invariants(readme: &str, _files: &[SourceFile]) -> Vec<String> {
    let Some(start) = readme.find("### Invariants") else {
        return vec!["README has no ### Invariants section".into()];
    };
    let section = &readme[start..];
    let end = section[3..].find("\n##").map_or(section.len(), |e| e + 3);
    let section = &section[..end];
    let mut found = Vec::new();
    let mut bullets: Vec<String> = Vec::new();
    for line in section.lines() {
        if line.starts_with("- ") {
            bullets.push(line.to_string());
        } else if let Some(last) = bullets.last_mut()
            && line.starts_with("  ")
        {
            last.push(' ');
            last.push_str(line.trim());
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for bullet in &bullets {
        let title = bullet.chars().take(60).collect::<String>();
        let named: Vec<&str> = bullet
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|t| t.starts_with("Test: "))
            .collect();
        if named.is_empty() {
            found.push(format!(
                "README invariant names no test (`Test: file::name`): {title}…"
            ));
        }
        for test in named {
            let test = test.trim_start_matches("Test: ");
            let Some((file, name)) = test.rsplit_once("::") else {
                found.push(format!(
                    "README names a test as {test:?}: expected file::name"
                ));
                continue;
            };
            let text = std::fs::read_to_string(root.join(file)).unwrap_or_default();
            if !text.contains(&format!("fn {name}(")) {
                found.push(format!("README names test {test}, which does not exist"));
            }
        }
    }
    found
}

/// Every `.rs` file under `dir`, as (path relative to the crate, text).
fn read_tree(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            read_tree(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.push((rel, std::fs::read_to_string(&path).unwrap()));
        }
    }
}

// ---------------------------------------------------------------- tests

#[test]
fn the_crate_keeps_its_architecture() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    read_tree(&root.join("src"), root, &mut files);
    assert!(files.len() > 50, "read {} files", files.len());
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let found = violations(&files, Some(&readme));
    assert!(
        found.is_empty(),
        "{} architecture violation(s):\n{}",
        found.len(),
        found.join("\n")
    );
}

fn tree(files: &[(&str, &str)]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect()
}

#[test]
fn an_import_from_a_higher_layer_is_a_violation() {
    let files = tree(&[
        ("src/tools/mod.rs", "use crate::adapters::slack::Thing;\n"),
        ("src/adapters/mod.rs", "pub mod slack;"),
        ("src/adapters/slack/mod.rs", "pub struct Thing;"),
        ("src/config.rs", "fn f() { crate::jobs::run(); }"),
        ("src/jobs/mod.rs", "pub fn run() {}"),
    ]);
    let found = violations(&files, None);
    assert!(
        found
            .iter()
            .any(|v| v.contains("src/tools/mod.rs: imports `adapters::slack`")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|v| v.contains("a tool imports an adapter")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|v| v.contains("src/config.rs: imports `jobs`")),
        "{found:?}"
    );
}

#[test]
fn grouped_super_and_child_imports_are_read_and_mutual_imports_found() {
    let files = tree(&[
        (
            "src/platform/mod.rs",
            "pub mod sandbox;\npub use sandbox::engine::Performance;\npub struct Strategy;",
        ),
        ("src/platform/sandbox/mod.rs", "pub mod engine;"),
        (
            "src/platform/sandbox/engine.rs",
            "use crate::{domain::Language, platform::{Strategy}};\npub struct Performance;",
        ),
        ("src/domain.rs", "pub enum Language {}"),
    ]);
    let found = violations(&files, None);
    assert!(
        found.iter().any(
            |v| v == "src/platform/mod.rs and src/platform/sandbox/engine.rs import each other"
        ),
        "{found:?}"
    );
    assert_eq!(found.len(), 1, "{found:?}");
}

#[test]
fn comments_strings_and_unit_tests_are_not_read() {
    let files = tree(&[
        (
            "src/domain.rs",
            "//! see crate::jobs::x\nconst S: &str = \"crate::jobs::y\";\nconst R: &str = r#\"serenity::\"#;\nfn f<'a>(c: char) -> bool { c == '\"' }\n#[cfg(test)]\nmod tests { use crate::jobs::Z; fn t() { tokio::spawn(); } }\n",
        ),
        ("src/jobs/mod.rs", "pub struct Z;"),
    ]);
    assert_eq!(violations(&files, None), Vec::<String>::new());
}

#[test]
fn banned_crates_and_impure_cores_are_violations() {
    let files = tree(&[
        ("src/tools/mod.rs", "use slack_morphism::prelude::*;"),
        (
            "src/agent/mod.rs",
            "fn f() { async_openai::Client::new(); }",
        ),
        ("src/agent/llm.rs", "use async_openai::Client;"),
        (
            "src/rbac.rs",
            "fn f() -> i64 { chrono::Utc::now().timestamp() }",
        ),
        ("src/jobs/schedule.rs", "fn g() { std::fs::read(\"x\"); }"),
    ]);
    let found = violations(&files, None);
    for expected in [
        "src/tools/mod.rs: uses `slack_morphism`",
        "src/agent/mod.rs: uses `async_openai`",
        "src/rbac.rs: a pure core names `now()`",
        "src/jobs/schedule.rs: a pure core names `std::fs`",
    ] {
        assert!(
            found.iter().any(|v| v.starts_with(expected)),
            "{expected}: {found:?}"
        );
    }
    assert!(!found.iter().any(|v| v.starts_with("src/agent/llm.rs")));
}

#[test]
fn a_sentence_outside_the_catalogue_is_a_violation() {
    let files = tree(&[
        (
            "src/tools/cache_status.rs",
            "fn f(l: Language) -> &'static str { match l { Language::En => \"hi\", Language::Ko => \"안녕\" } }",
        ),
        (
            "src/jobs/digest.rs",
            "const X: Phrase = Phrase :: new(\"a\", \"b\");",
        ),
        (
            "src/i18n/words.rs",
            "const X: Phrase = Phrase::new(\"a\", \"b\");",
        ),
    ]);
    let found = violations(&files, None);
    for expected in [
        "src/tools/cache_status.rs: writes `Language::En=>`",
        "src/tools/cache_status.rs: writes `Language::Ko=>`",
        "src/jobs/digest.rs: writes `Phrase::new(`",
    ] {
        assert!(
            found.iter().any(|v| v.starts_with(expected)),
            "{expected}: {found:?}"
        );
    }
    assert!(
        !found.iter().any(|v| v.starts_with("src/i18n/")),
        "{found:?}"
    );
}

#[test]
fn a_module_in_no_layer_and_a_large_file_are_violations() {
    let big = "fn f() {}\n".repeat(MAX_CODE_LINES + 1);
    let files = tree(&[
        ("src/newthing.rs", "pub fn x() {}"),
        ("src/domain.rs", &big),
    ]);
    let found = violations(&files, None);
    assert!(
        found
            .iter()
            .any(|v| v.contains("`newthing` is in no layer")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|v| v.starts_with("src/domain.rs: 701 lines of code")),
        "{found:?}"
    );
}

/// Issue 17 item 18: the test scripts install their Python server into the
/// project's own virtualenv (`.venv-test/`, git-ignored), never into the
/// machine's Python: every `pip install` runs the venv's interpreter.
#[test]
fn python_test_dependencies_go_only_into_the_projects_virtualenv() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut scripts: Vec<std::path::PathBuf> = std::fs::read_dir(root.join("scripts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    scripts.push(root.join(".ci/run"));
    let mut installs = 0;
    for path in &scripts {
        let text = std::fs::read_to_string(path).unwrap();
        for line in text.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
            if line.contains("pip install") || line.contains("pip3 install") {
                installs += 1;
                assert!(
                    line.starts_with("\"$PY\" -m pip install"),
                    "{}: installs with something but the venv's python: {line}",
                    path.display()
                );
                assert!(
                    text.contains("VENV=${NX_VENV:-$ROOT/.venv-test}")
                        && text.contains("PY=$VENV/bin/python"),
                    "{}: $PY is not the project's venv",
                    path.display()
                );
            }
        }
    }
    assert!(
        installs > 0,
        "the scripts install the test server somewhere"
    );
    let ignored = std::fs::read_to_string(root.join(".gitignore")).unwrap();
    assert!(ignored.lines().any(|l| l.trim() == ".venv-test/"));
}
