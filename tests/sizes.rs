//! House style keeps functions short and files readable in one sitting: no function in
//! `src/` over 80 lines and no file over 600 (STYLE.md). This test reads every
//! `src/**/*.rs`, measures each file and each `fn` body (from its `fn` line to its
//! closing brace, found by counting braces outside comments, strings and character
//! literals), and fails listing every one over its limit that `ALLOWED` does not name.

mod common;
use common::rust_files;

use std::path::Path;

/// The longest a function may be, in lines, from its `fn` line to its closing brace.
const FUNCTION_LINES: usize = 80;
/// The longest a file may be, in lines.
const FILE_LINES: usize = 600;

/// Over the limits for now: (file under the repository root; function name, or `""` for
/// the file itself; who is shrinking it; why it is still long). An entry that is no
/// longer over its limit fails the test, so the list only shrinks: remove it.
const ALLOWED: &[(&str, &str, &str, &str)] = &[];

/// One function or file over its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Offender {
    file: String,
    function: String,
    line: usize,
    lines: usize,
}

#[test]
fn functions_and_files_stay_within_their_limits() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut offenders = Vec::new();
    for file in rust_files(&root.join("src")) {
        let relative = file.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
        let text = std::fs::read_to_string(&file).unwrap();
        offenders.extend(offenders_in(&relative, &text));
    }
    let mut problems = Vec::new();
    for offender in &offenders {
        if allowance(offender).is_none() {
            problems.push(describe(offender));
        }
    }
    for (file, function, owner, _) in ALLOWED {
        let still = offenders.iter().any(|offender| offender.file == *file && offender.function == *function);
        if !still {
            problems.push(format!(
                "{file} {function}: within its limit now; remove its entry ({owner}) from ALLOWED in tests/sizes.rs"
            ));
        }
    }
    assert!(problems.is_empty(), "over the size limits:\n{}", problems.join("\n"));
}

#[test]
fn the_scan_measures_functions_past_braces_in_strings_and_comments() {
    let mut text = String::from("fn short() {\n    let _ = \"}\";\n}\n\nfn long() {\n    // }\n    let _ = '}';\n");
    for _ in 0..FUNCTION_LINES {
        text.push_str("    let _ = r#\"{\"#;\n");
    }
    text.push_str("}\n");
    let offenders = offenders_in("src/example.rs", &text);
    assert_eq!(
        offenders,
        vec![Offender {
            file: "src/example.rs".to_string(),
            function: "long".to_string(),
            line: 5,
            lines: FUNCTION_LINES + 4
        }]
    );
}

#[test]
fn the_scan_skips_declarations_without_a_body_and_sees_lifetimes() {
    let text = "trait T {\n    fn declared(&self) -> u8;\n}\nfn borrow<'a>(x: &'a str) -> &'a str {\n    x\n}\n";
    assert_eq!(functions(text), vec![("declared".to_string(), 2, 2), ("borrow".to_string(), 4, 6)]);
}

fn describe(offender: &Offender) -> String {
    if offender.function.is_empty() {
        return format!("{}: {} lines (at most {FILE_LINES})", offender.file, offender.lines);
    }
    format!(
        "{}:{}: fn {} is {} lines (at most {FUNCTION_LINES})",
        offender.file, offender.line, offender.function, offender.lines
    )
}

fn allowance(offender: &Offender) -> Option<usize> {
    ALLOWED.iter().position(|(file, function, _, _)| offender.file == *file && offender.function == *function)
}

/// The file itself and each of its functions that are over their limits.
fn offenders_in(relative: &str, text: &str) -> Vec<Offender> {
    let mut found = Vec::new();
    let total = text.lines().count();
    if total > FILE_LINES {
        found.push(Offender { file: relative.to_string(), function: String::new(), line: 1, lines: total });
    }
    for (name, start, end) in functions(text) {
        let lines = end - start + 1;
        if lines > FUNCTION_LINES {
            found.push(Offender { file: relative.to_string(), function: name, line: start, lines });
        }
    }
    found
}

/// Each `fn` in `text`: its name, the line of its `fn` keyword and the line of its
/// closing brace (the same line for a declaration without a body), 1-based.
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let code = code_only(text);
    let bytes = code.as_bytes();
    let line_at = |index: usize| code[..index].matches('\n').count() + 1;
    let mut found = Vec::new();
    let mut index = 0;
    while let Some(offset) = code[index..].find("fn ") {
        let at = index + offset;
        index = at + 3;
        let word_start = at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_');
        if !word_start {
            continue;
        }
        let name: String = code[at + 3..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if name.is_empty() {
            continue;
        }
        let Some(end) = body_end(bytes, at + 3 + name.len()) else { continue };
        found.push((name, line_at(at), line_at(end)));
    }
    found
}

/// Where the body of the function whose signature starts at `from` ends: its closing
/// brace, or the `;` of a declaration. Parentheses and angle brackets of the signature
/// hold no braces that matter, except in a `where` clause's types, which have none.
fn body_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut index = from;
    while index < bytes.len() && bytes[index] != b'{' {
        if bytes[index] == b';' {
            return Some(index);
        }
        index += 1;
    }
    let mut depth = 0usize;
    while index < bytes.len() {
        match bytes[index] {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(index);
                }
            }
            _ => {}
        }
        index += 1;
    }
    None
}

/// `text` with comments, string literals and character literals blanked out (newlines
/// kept, so line numbers stay), leaving only the braces of code.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut index = 0;
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    while index < chars.len() {
        let c = chars[index];
        let next = chars.get(index + 1).copied();
        if c == '/' && next == Some('/') {
            while index < chars.len() && chars[index] != '\n' {
                index += 1;
            }
            continue;
        }
        if c == '/' && next == Some('*') {
            let mut depth = 0;
            while index < chars.len() {
                if chars[index] == '/' && chars.get(index + 1) == Some(&'*') {
                    depth += 1;
                    index += 2;
                    continue;
                }
                if chars[index] == '*' && chars.get(index + 1) == Some(&'/') {
                    depth -= 1;
                    index += 2;
                    if depth == 0 {
                        break;
                    }
                    continue;
                }
                blank(&mut out, chars[index]);
                index += 1;
            }
            continue;
        }
        if let Some(after) = raw_string_end(&chars, index) {
            for &skipped in &chars[index..after] {
                blank(&mut out, skipped);
            }
            index = after;
            continue;
        }
        if c == '"' {
            index += 1;
            while index < chars.len() && chars[index] != '"' {
                if chars[index] == '\\' {
                    index += 1;
                }
                if let Some(&skipped) = chars.get(index) {
                    blank(&mut out, skipped);
                }
                index += 1;
            }
            index += 1;
            out.push_str("  ");
            continue;
        }
        if c == '\'' {
            let length = if next == Some('\\') {
                chars[index + 2..].iter().position(|&c| c == '\'').map(|end| end + 3)
            } else if chars.get(index + 2) == Some(&'\'') {
                Some(3)
            } else {
                None
            };
            if let Some(length) = length {
                out.extend(std::iter::repeat_n(' ', length));
                index += length;
                continue;
            }
        }
        out.push(c);
        index += 1;
    }
    out
}

/// When a raw string (`r"…"`, `r#"…"#`, `br#"…"#`) starts at `index`, the index just
/// after it.
fn raw_string_end(chars: &[char], index: usize) -> Option<usize> {
    let previous_is_word = index > 0 && (chars[index - 1].is_alphanumeric() || chars[index - 1] == '_');
    let mut at = index;
    if chars.get(at) == Some(&'b') {
        at += 1;
    }
    if previous_is_word || chars.get(at) != Some(&'r') {
        return None;
    }
    at += 1;
    let hashes = chars[at..].iter().take_while(|&&c| c == '#').count();
    at += hashes;
    if chars.get(at) != Some(&'"') {
        return None;
    }
    at += 1;
    while at < chars.len() {
        if chars[at] == '"' && chars[at + 1..].iter().take(hashes).filter(|&&c| c == '#').count() == hashes {
            return Some(at + 1 + hashes);
        }
        at += 1;
    }
    Some(chars.len())
}
