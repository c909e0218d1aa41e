//! The module graph reads top to bottom: a file in `src/` names only its own layer and
//! the layers below it (DESIGN.md, Layout). This test reads every `src/**/*.rs`, finds
//! each `crate::<module>` path (in `use` lines and in code) and each `super::` path that
//! climbs to the crate root, and fails listing every edge that points up a layer, every
//! cycle between modules of one layer, and every module that is in no layer.

mod common;
use common::rust_files;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

/// The layers, top to bottom, and the top-level modules in each (`main` is
/// `src/main.rs`). `src/README.md` lists the same table. `effect` sits below the
/// primitives and their providers: it owns the contract they implement and use (the
/// `Primitive` trait, `EffectContext`, `EffectError`) and the choke point, and reaches
/// the primitives only through the registry it is handed.
const LAYERS: &[(&str, &[&str])] = &[
    ("cli", &["main", "cli"]),
    ("run", &["run", "testing", "watch", "error"]),
    ("engine", &["engine"]),
    ("primitives", &["primitives"]),
    ("providers", &["providers"]),
    ("effect", &["effect"]),
    ("journal, config", &["journal", "config"]),
    ("base", &["base", "exit_codes"]),
];

/// Upward edges tolerated for now: (a file, or a folder ending in `/`, under the
/// repository root; the module it may name; why). Each is a debt with its way out in
/// the reason. An entry whose path exists but that allows nothing fails the test, so the
/// list only shrinks; an entry whose path does not exist yet is skipped.
const ALLOWED: &[(&str, &str, &str)] = &[];

/// A reference from a file to a top-level module.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reference {
    line: usize,
    module: String,
}

#[test]
fn modules_import_only_from_their_layer_and_below() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut problems = Vec::new();
    let mut used = BTreeSet::new();
    let mut same_layer: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for file in rust_files(&root.join("src")) {
        let relative = file.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
        let module_path = module_path(&relative);
        let Some(own) = module_path.first() else { continue };
        let Some(own_layer) = layer_of(own) else {
            problems.push(format!("{relative}: module `{own}` is in no layer (add it to LAYERS in tests/layers.rs)"));
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for reference in references(&text, &module_path) {
            if &reference.module == own {
                continue;
            }
            let at = format!("{relative}:{}", reference.line);
            let Some(layer) = layer_of(&reference.module) else {
                problems.push(format!("{at}: `crate::{}` is in no layer", reference.module));
                continue;
            };
            if layer == own_layer {
                same_layer.entry(own.clone()).or_default().entry(reference.module.clone()).or_insert(at);
                continue;
            }
            if layer > own_layer {
                continue;
            }
            if let Some(index) = allowance(&relative, &reference.module) {
                used.insert(index);
                continue;
            }
            problems.push(format!(
                "{at}: {own} (layer {}) imports {} (layer {}, above it)",
                LAYERS[own_layer].0, reference.module, LAYERS[layer].0
            ));
        }
    }
    problems.extend(cycles(&same_layer));
    for (index, (path, module, _)) in ALLOWED.iter().enumerate() {
        if root.join(path).exists() && !used.contains(&index) {
            problems.push(format!("ALLOWED lets {path} import {module}, and it no longer does: remove the entry"));
        }
    }
    if !problems.is_empty() {
        let mut message = String::from("the module graph must read top to bottom:\n");
        for problem in &problems {
            writeln!(message, "  {problem}").unwrap();
        }
        panic!("{message}");
    }
}

#[test]
fn finds_paths_in_use_groups_code_and_super() {
    let text = "\
//! Doc: crate::run is named here only in a comment.
use crate::{base::time, effect::{Event, Level}};
use crate::config::Project;
fn f() {
    let user = crate::run::user();
    let text = \"crate::cli in a string\";
    let raw = r#\"crate::watch in a raw string\"#;
    let c = '\"'; let l: &'static str = \"\";
    super::journal::open();
    /* crate::testing in a block comment */
}
";
    let found = |module_path: &[&str]| -> Vec<String> {
        let module_path: Vec<String> = module_path.iter().map(ToString::to_string).collect();
        references(text, &module_path)
            .into_iter()
            .map(|reference| format!("{}:{}", reference.line, reference.module))
            .collect()
    };
    // From src/engine/preflight.rs, `super::` is engine; from src/engine/mod.rs, the root.
    assert_eq!(found(&["engine", "preflight"]), ["2:base", "2:effect", "3:config", "5:run"]);
    assert_eq!(found(&["engine"]), ["2:base", "2:effect", "3:config", "5:run", "9:journal"]);
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, modules)| modules.contains(&module))
}

fn allowance(file: &str, module: &str) -> Option<usize> {
    ALLOWED.iter().position(|(path, allowed, _)| {
        *allowed == module && if path.ends_with('/') { file.starts_with(path) } else { file == *path }
    })
}

/// `src/run/lock.rs` → `[run, lock]`; `src/run/mod.rs` → `[run]`; `src/lib.rs` → `[]`.
fn module_path(relative: &str) -> Vec<String> {
    let inside = relative.strip_prefix("src/").unwrap_or(relative).trim_end_matches(".rs");
    let mut parts: Vec<String> = inside.split('/').map(str::to_string).collect();
    if parts.last().is_some_and(|last| last == "mod") {
        parts.pop();
    }
    if parts == ["lib"] {
        parts.clear();
    }
    parts
}

/// The top-level modules `text` names, with their lines: `crate::m`, `$crate::m`, each
/// item of `crate::{m, n::x}`, and `super::…::m` when the `super`s climb to the crate
/// root from the file at `module_path`. Comments, strings and chars are skipped.
fn references(text: &str, module_path: &[String]) -> Vec<Reference> {
    let code = blank_comments_and_literals(text);
    let bytes = code.as_bytes();
    let mut found = Vec::new();
    let mut index = 0;
    while index < bytes.len() {
        if !starts_path(bytes, index) {
            index += 1;
            continue;
        }
        let (modules, end) = if code[index..].starts_with("crate::") {
            after_root(&code, index + "crate::".len())
        } else if code[index..].starts_with("super::") {
            let mut cursor = index;
            let mut climbs = 0;
            while code[cursor..].starts_with("super::") {
                climbs += 1;
                cursor += "super::".len();
            }
            if climbs == module_path.len() { after_root(&code, cursor) } else { (Vec::new(), cursor) }
        } else {
            (Vec::new(), index + 1)
        };
        for (offset, module) in modules {
            let line = code[..offset].matches('\n').count() + 1;
            found.push(Reference { line, module });
        }
        index = end.max(index + 1);
    }
    found
}

/// Whether a path starting with `crate::` or `super::` begins at `index` (not the tail
/// of a longer name such as `my_crate::`).
fn starts_path(bytes: &[u8], index: usize) -> bool {
    let text = &bytes[index..];
    if !(text.starts_with(b"crate::") || text.starts_with(b"super::")) {
        return false;
    }
    index == 0 || !(bytes[index - 1].is_ascii_alphanumeric() || bytes[index - 1] == b'_' || bytes[index - 1] == b':')
}

/// The modules named right after the crate root at `start`: one identifier, or the first
/// identifier of each item of a `{…}` group. Returns them with their offsets, and where
/// the path ends.
fn after_root(code: &str, start: usize) -> (Vec<(usize, String)>, usize) {
    let bytes = code.as_bytes();
    if bytes.get(start) != Some(&b'{') {
        let (name, end) = identifier(code, start);
        return (name.map(|name| vec![(start, name)]).unwrap_or_default(), end);
    }
    let mut modules = Vec::new();
    let mut depth = 0;
    let mut expect_item = true;
    let mut cursor = start;
    while cursor < bytes.len() {
        match bytes[cursor] {
            b'{' => {
                depth += 1;
                expect_item = depth == 1;
                cursor += 1;
            }
            b'}' => {
                depth -= 1;
                cursor += 1;
                if depth == 0 {
                    break;
                }
            }
            b',' => {
                expect_item = depth == 1;
                cursor += 1;
            }
            byte if byte.is_ascii_whitespace() => cursor += 1,
            _ if expect_item => {
                let (name, end) = identifier(code, cursor);
                if let Some(name) = name {
                    modules.push((cursor, name));
                }
                expect_item = false;
                cursor = end.max(cursor + 1);
            }
            _ => cursor += 1,
        }
    }
    (modules, cursor)
}

fn identifier(code: &str, start: usize) -> (Option<String>, usize) {
    let length = code[start..].bytes().take_while(|byte| byte.is_ascii_alphanumeric() || *byte == b'_').count();
    let name = &code[start..start + length];
    let is_name = !name.is_empty() && !name.as_bytes()[0].is_ascii_digit() && name != "self";
    (is_name.then(|| name.to_string()), start + length)
}

/// `text` with comments and the insides of string and char literals replaced by spaces,
/// newlines kept, so offsets and line numbers stay those of the file.
fn blank_comments_and_literals(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = bytes.to_vec();
    let mut index = 0;
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for byte in &mut out[from..to] {
            if *byte != b'\n' {
                *byte = b' ';
            }
        }
    };
    while index < bytes.len() {
        let rest = &bytes[index..];
        if rest.starts_with(b"//") {
            let end = rest.iter().position(|byte| *byte == b'\n').map_or(bytes.len(), |offset| index + offset);
            blank(&mut out, index, end);
            index = end;
        } else if rest.starts_with(b"/*") {
            let mut depth = 0;
            let mut cursor = index;
            while cursor < bytes.len() {
                if bytes[cursor..].starts_with(b"/*") {
                    depth += 1;
                    cursor += 2;
                } else if bytes[cursor..].starts_with(b"*/") {
                    depth -= 1;
                    cursor += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    cursor += 1;
                }
            }
            blank(&mut out, index, cursor);
            index = cursor;
        } else if let Some((hashes, body)) = raw_string_start(bytes, index) {
            let closing: Vec<u8> = std::iter::once(b'"').chain(std::iter::repeat_n(b'#', hashes)).collect();
            let end = bytes[body..]
                .windows(closing.len())
                .position(|window| window == closing.as_slice())
                .map_or(bytes.len(), |offset| body + offset + closing.len());
            blank(&mut out, index, end);
            index = end;
        } else if rest[0] == b'"' {
            let mut cursor = index + 1;
            while cursor < bytes.len() && bytes[cursor] != b'"' {
                cursor += if bytes[cursor] == b'\\' { 2 } else { 1 };
            }
            let end = (cursor + 1).min(bytes.len());
            blank(&mut out, index, end);
            index = end;
        } else if rest[0] == b'\'' {
            index = char_literal_end(bytes, index).inspect(|end| blank(&mut out, index, *end)).unwrap_or(index + 1);
        } else {
            index += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// At `r"`, `r#"`, `br##"`…: the number of `#`s and where the string's text starts.
/// Not inside a longer name.
fn raw_string_start(bytes: &[u8], index: usize) -> Option<(usize, usize)> {
    if index > 0 && (bytes[index - 1].is_ascii_alphanumeric() || bytes[index - 1] == b'_') {
        return None;
    }
    let mut cursor = index;
    if bytes.get(cursor) == Some(&b'b') {
        cursor += 1;
    }
    if bytes.get(cursor) != Some(&b'r') {
        return None;
    }
    cursor += 1;
    let hashes = bytes[cursor..].iter().take_while(|byte| **byte == b'#').count();
    (bytes.get(cursor + hashes) == Some(&b'"')).then_some((hashes, cursor + hashes + 1))
}

/// At `'`: the end of a char literal (`'a'`, `'\n'`, `'\u{1F600}'`, `'é'`), or `None` for
/// a lifetime (`'a`).
fn char_literal_end(bytes: &[u8], index: usize) -> Option<usize> {
    let next = *bytes.get(index + 1)?;
    if next == b'\\' {
        let close = bytes[index + 2..].iter().position(|byte| *byte == b'\'')?;
        return Some(index + 2 + close + 1);
    }
    let width = match next {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    };
    (bytes.get(index + 1 + width) == Some(&b'\'')).then_some(index + 1 + width + 1)
}

/// Each cycle among modules of one layer, as `a → b → a (src/a.rs:3, src/b.rs:9)`.
fn cycles(edges: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<String> {
    let mut found = BTreeSet::new();
    for start in edges.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        while let Some((node, path)) = stack.pop() {
            for next in edges.get(&node).map(|targets| targets.keys()).into_iter().flatten() {
                if next == start {
                    let mut cycle = path.clone();
                    let smallest = (0..cycle.len()).min_by_key(|index| &cycle[*index]).unwrap_or(0);
                    cycle.rotate_left(smallest);
                    found.insert(cycle);
                } else if !path.contains(next) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    found
        .into_iter()
        .map(|cycle| {
            let mut names = cycle.clone();
            names.push(cycle[0].clone());
            let places: Vec<&str> = names.windows(2).map(|pair| edges[&pair[0]][&pair[1]].as_str()).collect();
            format!("cycle in one layer: {} ({})", names.join(" → "), places.join(", "))
        })
        .collect()
}
