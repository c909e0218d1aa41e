//! Property tests over the parsers of untrusted input, bounded to a few hundred cases
//! each so they run with every `cargo test`: the journal reader (arbitrary bytes and
//! mutations of a real journal), shipctl.toml parsing (arbitrary TOML-ish text and
//! mutations of the repository's own config), the import resolver (arbitrary import
//! strings never resolve outside the root) and the gate's argument conversion
//! (arbitrary script maps through `map_to_json` and every primitive's `parse`). Each
//! property is "never panics, and answers within its contract"; a crash they find
//! becomes a plain regression test at the bottom of this file.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use rhai::{Dynamic, Map};
use serde_json::Value;

use shipctl::config::{Project, parse};
use shipctl::effect::value::map_to_json;
use shipctl::effect::{Executor, Replay};
use shipctl::engine::resolver::{Target, locate};
use shipctl::journal::{Recording, parse_journal};

use crate::support::Workspace;

/// Cases per property in the normal test run; `SHIPCTL_FUZZ_CASES` raises it for a
/// longer search (`SHIPCTL_FUZZ_CASES=100000 cargo test --test integration fuzz::`).
const CASES: u32 = 256;

fn config() -> ProptestConfig {
    let cases = std::env::var("SHIPCTL_FUZZ_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(CASES);
    // No failure files: a case that fails is copied into a regression test below.
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// Read `bytes` as a journal and, when it reads, build the recording and a replay of
/// it: none of this may panic; errors are fine.
fn read_all_the_way(bytes: &[u8]) {
    let Ok(journal) = parse_journal(bytes, Path::new("fuzz.jsonl")) else {
        return;
    };
    let _ = journal.footer();
    let Ok(recording) = Recording::from_journal(&journal) else {
        return;
    };
    let mut replay = Replay::new(recording);
    let _ = replay.finish();
}

/// A real journal: a run with steps, effects (one failing), logs and a footer.
fn real_journal() -> &'static Vec<String> {
    static LINES: OnceLock<Vec<String>> = OnceLock::new();
    LINES.get_or_init(|| {
        let workspace = Workspace::new();
        workspace.write(
            "release.rhai",
            "step(\"one\", || { let t = now(); print(t); });\nlog(\"between\");\nstep(\"two\", || now());\nfail(\"stop\");\n",
        );
        let report = workspace.run("release.rhai", &[]);
        let path = report.journal.expect("a journal");
        std::fs::read_to_string(path).expect("journal").lines().map(str::to_string).collect()
    })
}

/// A change to a journal's lines.
#[derive(Debug, Clone)]
enum JournalMutation {
    FlipByte { line: usize, at: usize, to: u8 },
    Delete { line: usize },
    Duplicate { line: usize },
    Swap { a: usize, b: usize },
    Cut { at: usize },
    SetField { line: usize, field: usize, value: JsonValue },
}

/// JSON values, as proptest generates them.
#[derive(Debug, Clone)]
enum JsonValue {
    Null,
    Bool(bool),
    Int(i64),
    Big(u64),
    Float(f64),
    Text(String),
    List(Vec<JsonValue>),
}

impl JsonValue {
    fn to_json(&self) -> Value {
        match self {
            JsonValue::Null => Value::Null,
            JsonValue::Bool(boolean) => Value::Bool(*boolean),
            JsonValue::Int(integer) => Value::from(*integer),
            JsonValue::Big(integer) => Value::from(*integer),
            JsonValue::Float(float) => serde_json::Number::from_f64(*float).map(Value::Number).unwrap_or(Value::Null),
            JsonValue::Text(text) => Value::String(text.clone()),
            JsonValue::List(items) => Value::Array(items.iter().map(JsonValue::to_json).collect()),
        }
    }
}

fn json_value() -> impl Strategy<Value = JsonValue> {
    let leaf = prop_oneof![
        Just(JsonValue::Null),
        any::<bool>().prop_map(JsonValue::Bool),
        any::<i64>().prop_map(JsonValue::Int),
        any::<u64>().prop_map(JsonValue::Big),
        any::<f64>().prop_map(JsonValue::Float),
        any::<String>().prop_map(JsonValue::Text),
        "[0-9a-fé]{0,70}".prop_map(JsonValue::Text),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| proptest::collection::vec(inner, 0..4).prop_map(JsonValue::List))
}

fn journal_mutation() -> impl Strategy<Value = JournalMutation> {
    prop_oneof![
        (any::<usize>(), any::<usize>(), any::<u8>()).prop_map(|(line, at, to)| JournalMutation::FlipByte {
            line,
            at,
            to
        }),
        any::<usize>().prop_map(|line| JournalMutation::Delete { line }),
        any::<usize>().prop_map(|line| JournalMutation::Duplicate { line }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| JournalMutation::Swap { a, b }),
        any::<usize>().prop_map(|at| JournalMutation::Cut { at }),
        (any::<usize>(), any::<usize>(), json_value()).prop_map(|(line, field, value)| JournalMutation::SetField {
            line,
            field,
            value
        }),
    ]
}

fn mutate(lines: &mut Vec<Vec<u8>>, mutation: &JournalMutation) {
    if lines.is_empty() {
        return;
    }
    let count = lines.len();
    match mutation {
        JournalMutation::FlipByte { line, at, to } => {
            let line = &mut lines[line % count];
            if !line.is_empty() {
                let at = at % line.len();
                line[at] = *to;
            }
        }
        JournalMutation::Delete { line } => {
            lines.remove(line % count);
        }
        JournalMutation::Duplicate { line } => {
            let copy = lines[line % count].clone();
            lines.insert(line % count, copy);
        }
        JournalMutation::Swap { a, b } => lines.swap(a % count, b % count),
        JournalMutation::Cut { at } => {
            let last = lines.last_mut().expect("not empty");
            let at = at % (last.len() + 1);
            last.truncate(at);
        }
        JournalMutation::SetField { line, field, value } => {
            let line = &mut lines[line % count];
            let Ok(Value::Object(mut record)) = serde_json::from_slice::<Value>(line) else {
                return;
            };
            let keys: Vec<String> = record.keys().cloned().collect();
            if keys.is_empty() {
                return;
            }
            record.insert(keys[field % keys.len()].clone(), value.to_json());
            *line = serde_json::to_vec(&record).expect("json");
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_journal_reader_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        read_all_the_way(&bytes);
    }

    #[test]
    fn the_journal_reader_never_panics_on_arbitrary_lines(lines in proptest::collection::vec("[ -~é\\t]{0,200}", 0..8)) {
        read_all_the_way(lines.join("\n").as_bytes());
    }

    #[test]
    fn the_journal_reader_never_panics_on_a_mutated_real_journal(
        mutations in proptest::collection::vec(journal_mutation(), 1..4),
        newline in any::<bool>(),
    ) {
        let mut lines: Vec<Vec<u8>> = real_journal().iter().map(|line| line.as_bytes().to_vec()).collect();
        for mutation in &mutations {
            mutate(&mut lines, mutation);
        }
        let mut bytes = lines.join(&b'\n');
        if newline {
            bytes.push(b'\n');
        }
        read_all_the_way(&bytes);
    }
}

// ---- shipctl.toml ----

const OWN_CONFIG: &str = include_str!("../../shipctl.toml");

/// TOML-ish text: tables, keys, and values of every TOML kind, some of them wrong.
fn tomlish() -> impl Strategy<Value = String> {
    let section = prop_oneof![
        Just("limits".to_string()),
        Just("journal".to_string()),
        Just("backups".to_string()),
        Just("backups.paths".to_string()),
        Just("repos.app".to_string()),
        Just("secrets.token".to_string()),
        Just("notify.log".to_string()),
        Just("databases.main".to_string()),
        Just("environments.local".to_string()),
        Just("environments.production".to_string()),
        Just("registries.\"r.example.org\"".to_string()),
        "[a-z.\"]{0,12}",
    ];
    let key = prop_oneof![
        Just("deadline".to_string()),
        Just("compensation_deadline".to_string()),
        Just("max_operations".to_string()),
        Just("max_call_levels".to_string()),
        Just("path".to_string()),
        Just("dir".to_string()),
        Just("keep".to_string()),
        Just("file".to_string()),
        Just("env".to_string()),
        Just("kind".to_string()),
        Just("url".to_string()),
        Just("url_secret".to_string()),
        Just("protected".to_string()),
        Just("allow".to_string()),
        Just("deny".to_string()),
        Just("semver".to_string()),
        "[a-z_]{1,10}",
    ];
    let value = prop_oneof![
        any::<i64>().prop_map(|integer| integer.to_string()),
        any::<bool>().prop_map(|boolean| boolean.to_string()),
        "\"[ -~é]{0,20}\"",
        "\"-?[0-9]{0,4}(ms|s|m|h|d|x)?\"",
        "\\[(\"[a-z_]{0,6}\", ?){0,3}\\]",
        "[ -~]{0,12}",
        Just("{ a = 1 }".to_string()),
        Just("1e999".to_string()),
    ];
    let line = prop_oneof![
        section.prop_map(|section| format!("[{section}]")),
        (key, value).prop_map(|(key, value)| format!("{key} = {value}")),
        "[ -~é\\t]{0,30}",
    ];
    proptest::collection::vec(line, 0..16).prop_map(|lines| lines.join("\n"))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn config_parsing_never_panics_on_tomlish_text(text in tomlish()) {
        let _ = parse(&text, "shipctl.toml");
    }

    #[test]
    fn config_parsing_never_panics_on_a_mutated_real_config(
        cuts in proptest::collection::vec((any::<usize>(), "[ -~é\\n]{0,12}"), 1..4),
    ) {
        let mut text = OWN_CONFIG.to_string();
        for (at, insert) in &cuts {
            let mut at = at % (text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            // Replace a few characters at `at` with `insert`.
            let mut end = (at + insert.len().min(8)).min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.replace_range(at..end, insert);
        }
        let _ = parse(&text, "shipctl.toml");
    }
}

/// `Project::load` of text written to a real file goes through the same checks.
#[test]
fn project_loading_never_panics_on_tomlish_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shipctl.toml");
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 64, ..config() });
    runner
        .run(&tomlish(), |text| {
            std::fs::write(&path, &text).unwrap();
            let _ = Project::load(&path);
            Ok(())
        })
        .unwrap();
}

// ---- the import resolver ----

/// A scripts root with modules, a directory, a link to a module, a link out of the
/// root and a link loop; canonical, as the resolver is given it.
fn scripts_root() -> &'static (tempfile::TempDir, tempfile::TempDir, PathBuf) {
    static ROOT: OnceLock<(tempfile::TempDir, tempfile::TempDir, PathBuf)> = OnceLock::new();
    ROOT.get_or_init(|| {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.rhai"), "42").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("scripts/app/lib")).unwrap();
        let root = dir.path().join("scripts").canonicalize().unwrap();
        std::fs::write(root.join("app/release.rhai"), "").unwrap();
        std::fs::write(root.join("app/lib/util.rhai"), "").unwrap();
        std::fs::write(root.join("common.rhai"), "").unwrap();
        std::os::unix::fs::symlink(root.join("common.rhai"), root.join("app/alias.rhai")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("app/out")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.rhai"), root.join("app/secret.rhai")).unwrap();
        std::os::unix::fs::symlink(&root, root.join("app/lib/loop")).unwrap();
        (dir, outside, root)
    })
}

/// Import strings made of the pieces an attacker would use.
fn import_string() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just(".."),
        Just("."),
        Just("/"),
        Just("app"),
        Just("lib"),
        Just("util"),
        Just("common"),
        Just("alias"),
        Just("out"),
        Just("secret"),
        Just("loop"),
        Just("std"),
        Just("std/"),
        Just("~"),
        Just(".rhai"),
        Just("\\"),
        Just("%2e%2e"),
        Just("\0"),
        Just("//"),
    ];
    let built = proptest::collection::vec(piece, 0..10).prop_map(|pieces| pieces.concat());
    prop_oneof![built, any::<String>(), "[./a-z~\\\\]{0,30}"]
}

fn importer() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        Just(None),
        Just(Some("app/release.rhai")),
        Just(Some("app/lib/util.rhai")),
        Just(Some("common.rhai")),
        Just(Some("std/release.rhai")),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn an_import_never_resolves_outside_the_root(path in import_string(), importer in importer()) {
        let (_, _, root) = scripts_root();
        match locate(root, importer, &path) {
            Ok(Target::File { name, path: resolved }) => {
                prop_assert!(resolved.starts_with(root), "{path:?} from {importer:?} resolved to {}", resolved.display());
                let real = resolved.canonicalize().unwrap();
                prop_assert!(real.starts_with(root), "{path:?} leads to {}", real.display());
                prop_assert!(!Path::new(&name).is_absolute(), "{name}");
            }
            Ok(Target::Std(name)) => prop_assert!(name.starts_with("std"), "{name}"),
            Err(_) => {}
        }
    }
}

// ---- the gate's argument conversion ----

/// Script values, as proptest generates them (`Dynamic` has no strategy of its own).
#[derive(Debug, Clone)]
enum ScriptValue {
    Unit,
    Bool(bool),
    Int(i64),
    Float(f64),
    Char(char),
    Text(String),
    Array(Vec<ScriptValue>),
    Map(Vec<(String, ScriptValue)>),
    Timestamp,
}

impl ScriptValue {
    fn to_dynamic(&self) -> Dynamic {
        match self {
            ScriptValue::Unit => Dynamic::UNIT,
            ScriptValue::Bool(boolean) => Dynamic::from_bool(*boolean),
            ScriptValue::Int(integer) => Dynamic::from_int(*integer),
            ScriptValue::Float(float) => Dynamic::from_float(*float),
            ScriptValue::Char(character) => Dynamic::from_char(*character),
            ScriptValue::Text(text) => Dynamic::from(text.clone()),
            ScriptValue::Array(items) => Dynamic::from_array(items.iter().map(ScriptValue::to_dynamic).collect()),
            ScriptValue::Map(entries) => Dynamic::from_map(to_map(entries)),
            ScriptValue::Timestamp => Dynamic::from_timestamp(std::time::Instant::now()),
        }
    }
}

fn to_map(entries: &[(String, ScriptValue)]) -> Map {
    entries.iter().map(|(key, value)| (key.as_str().into(), value.to_dynamic())).collect()
}

/// Argument names the primitives take, and some they do not.
fn argument_name() -> impl Strategy<Value = String> {
    let known: Vec<String> = shipctl::primitives::registry()
        .iter()
        .flat_map(|primitive| primitive.fields().unwrap_or(&[]).iter().map(|field| field.to_string()))
        .collect();
    prop_oneof![3 => proptest::sample::select(known), 1 => "[a-z_]{0,10}", 1 => any::<String>()]
}

fn script_value() -> impl Strategy<Value = ScriptValue> {
    let leaf = prop_oneof![
        Just(ScriptValue::Unit),
        any::<bool>().prop_map(ScriptValue::Bool),
        any::<i64>().prop_map(ScriptValue::Int),
        prop_oneof![Just(-1i64), Just(0), Just(1), Just(i64::MIN), Just(i64::MAX)].prop_map(ScriptValue::Int),
        any::<f64>().prop_map(ScriptValue::Float),
        any::<char>().prop_map(ScriptValue::Char),
        any::<String>().prop_map(ScriptValue::Text),
        "-?[0-9]{0,4}(ms|s|m|h)?".prop_map(ScriptValue::Text),
        "[a-z0-9./:-]{0,20}".prop_map(ScriptValue::Text),
        Just(ScriptValue::Timestamp),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(ScriptValue::Array),
            proptest::collection::vec((argument_name(), inner), 0..5).prop_map(ScriptValue::Map),
        ]
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn argument_conversion_never_panics_for_any_primitive(entries in proptest::collection::vec((argument_name(), script_value()), 0..8)) {
        let map = to_map(&entries);
        let Ok(json) = map_to_json(&map) else {
            return Ok(());
        };
        let args = Value::Object(json);
        for primitive in shipctl::primitives::registry().iter() {
            match primitive.parse(&args) {
                Ok(_) => {}
                Err(error) => prop_assert!(!error.to_string().is_empty(), "{} gave an empty error", primitive.name()),
            }
        }
    }
}

// ---- regressions found by the properties above ----

/// A header whose sha is not hex, with a multi-byte character where replay cut the
/// digest to 12 bytes for its message: refused by the reader now, never sliced.
#[test]
fn regression_a_multibyte_sha_is_refused() {
    let header = real_journal()[0].replace("\"script_sha256\":\"", "\"script_sha256\":\"aéééééé");
    let result = parse_journal(format!("{header}\n").as_bytes(), Path::new("fuzz.jsonl"));
    assert!(result.is_err());
}
