//! The redactor and the secret store, against hostile values.

use super::encoding::{STANDARD, URL_SAFE, base64};
use super::*;

#[test]
fn resolves_from_file_and_redacts() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hook.txt"), "https://hooks.example/T0/B0/XYZ\n").unwrap();
    let mut sources = BTreeMap::new();
    sources.insert("hook".to_string(), SecretSource { env: None, file: Some("hook.txt".into()), redact: true });
    let store = SecretStore::new(sources, dir.path().to_path_buf());
    let redactor = store.redactor();
    assert_eq!(
        redactor.redact_str("https://hooks.example/T0/B0/XYZ"),
        "[redacted:hook]",
        "a declared secret is scrubbed before any primitive asked for it"
    );
    assert_eq!(store.get("hook").unwrap(), "https://hooks.example/T0/B0/XYZ");
    let mut value = serde_json::json!({"error": "POST https://hooks.example/T0/B0/XYZ failed", "n": 1});
    redactor.redact_value(&mut value);
    assert_eq!(value["error"], "POST [redacted:hook] failed");
    assert_eq!(redactor.redact_str("echo: /T0/B0/XYZ"), "echo: [redacted:hook]", "the URL's path alone is secret too");
    assert!(store.get("other").unwrap_err().contains("not declared"));
}

#[test]
fn database_urls_redact_the_password_but_not_the_database_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("db"), "postgres://app:s3cr%40t-pa55@db.internal/catalogue\n").unwrap();
    let mut sources = BTreeMap::new();
    sources.insert("db".to_string(), SecretSource { env: None, file: Some("db".into()), redact: true });
    let store = SecretStore::new(sources, dir.path().to_path_buf());
    store.get("db").unwrap();
    let redactor = store.redactor();
    assert_eq!(redactor.redact_str("password s3cr@t-pa55"), "password [redacted:db]");
    assert_eq!(redactor.redact_str("dumped /catalogue"), "dumped /catalogue");
}

fn store_with(value: &str) -> SecretStore {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), format!("{value}\n")).unwrap();
    let mut sources = BTreeMap::new();
    sources.insert("token".to_string(), SecretSource { env: None, file: Some("token".into()), redact: true });
    let store = SecretStore::new(sources, dir.path().to_path_buf());
    store.get("token").unwrap();
    store
}

fn standard_base64(text: &str) -> String {
    String::from_utf8(base64(text.as_bytes(), STANDARD)).unwrap()
}

#[test]
fn base64_matches_the_known_encoding() {
    assert_eq!(standard_base64("user:pass"), "dXNlcjpwYXNz");
    assert_eq!(standard_base64("ab"), "YWI");
    assert_eq!(String::from_utf8(base64(b"\xfb\xff", URL_SAFE)).unwrap(), "-_8");
}

#[test]
fn encoded_forms_are_redacted() {
    let secret = "s3cr/t tok+en&more";
    let redactor = store_with(secret).redactor();
    for echoed in [
        "s3cr%2Ft%20tok%2Ben%26more",
        "s3cr%2ft+tok%2ben%26more",
        "s3cr\\/t tok+en&more",
        "%73%33%63%72%2F%74%20%74%6F%6B%2B%65%6E%26%6D%6F%72%65",
    ] {
        let out = redactor.redact_str(&format!("echo: {echoed}."));
        assert_eq!(out, "echo: [redacted:token].", "{echoed}");
    }
    for prefix in ["", "u:", "us:", "user:"] {
        let encoded = standard_base64(&format!("{prefix}{secret}"));
        let out = redactor.redact_str(&format!("Basic {encoded}"));
        assert!(out.contains("[redacted:token]"), "{prefix}: {out}");
        let left = out.replace("[redacted:token]", "").len() - "Basic ".len();
        assert!(left <= standard_base64(prefix).len() + 3, "only the prefix and edge characters stay: {out}");
        let url_safe = String::from_utf8(base64(format!("{prefix}{secret}").as_bytes(), URL_SAFE)).unwrap();
        assert!(redactor.redact_str(&url_safe).contains("[redacted:token]"), "{url_safe}");
    }
}

#[test]
fn a_query_value_is_secret_on_its_own() {
    let redactor = store_with("https://hooks.example/notify?token=Zq81xPw0dd&team=ops").redactor();
    assert_eq!(redactor.redact_str("bad token Zq81xPw0dd"), "bad token [redacted:token]");
    assert_eq!(redactor.redact_str("team ops"), "team ops", "short values are not secret parts");
}

#[test]
fn excerpts_are_cut_after_redaction() {
    let secret = "tok_0123456789abcdef";
    let redactor = store_with(secret).redactor();
    let text = format!("{}{secret}{}", "a".repeat(95), "b".repeat(100));
    let head = redactor.excerpt(&text, Keep::Head(100));
    assert!(!head.contains("tok_0"), "{head}");
    assert!(head.starts_with(&"a".repeat(95)), "{head}");
    let tail = redactor.excerpt(&text, Keep::Tail(110));
    assert!(!tail.contains("cdef"), "{tail}");
    // A text that was already cut in the middle of a secret (a read cap).
    let cut = format!("body {}", &secret[..9]);
    assert_eq!(redactor.excerpt(&cut, Keep::Head(100)), "body [redacted:token]");
    let front = format!("{} rest", &secret[9..]);
    assert_eq!(redactor.excerpt(&front, Keep::Tail(100)), "[redacted:token] rest");
}

#[test]
fn secret_files_are_refused_as_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::write(root.join("shipctl.toml"), "[secrets.token]\nfile = \"secrets/token.rhai\"\n").unwrap();
    std::fs::create_dir(root.join("secrets")).unwrap();
    std::fs::write(root.join("secrets/token.rhai"), "hunter22 is the value").unwrap();
    std::fs::write(root.join("ok.rhai"), "").unwrap();
    let error = refuse_secret_file(&root, &root.join("secrets/../secrets/token.rhai")).unwrap_err();
    assert!(error.contains("secrets/token.rhai holds the secret \"token\""), "{error}");
    assert!(!error.contains("hunter22"), "{error}");
    assert!(refuse_secret_file(&root, &root.join("ok.rhai")).is_ok());
}

/// A store whose secret `token` is `value` in a file, redacted or not.
fn declared(value: &str, redact: bool) -> (tempfile::TempDir, SecretStore) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), value).unwrap();
    let mut sources = BTreeMap::new();
    sources.insert("token".to_string(), SecretSource { env: None, file: Some("token".into()), redact });
    let store = SecretStore::new(sources, dir.path().to_path_buf());
    (dir, store)
}

#[test]
fn a_one_character_secret_is_refused_and_never_replaced_inside_words() {
    let (_dir, store) = declared("x\n", true);
    // Before the length rule, `x` was scrubbed inside `exit`.
    assert_eq!(store.redactor().redact_str("exit status 2"), "exit status 2");
    let error = store.resolve("token").unwrap_err();
    assert_eq!(error, SecretError::TooShort { name: "token".into(), what: "its value", characters: 1 });
    let message = store.get("token").unwrap_err();
    assert!(message.contains("secret \"token\" ([secrets.token] in shipctl.toml) is too short"), "{message}");
    assert!(message.contains("has 1 character (whitespace"), "{message}");
    assert!(message.contains("Use a longer secret, or set `redact = false`"), "{message}");
    assert!(!message.contains(": x"), "the value is not quoted: {message}");
}

#[test]
fn a_secret_marked_not_redacted_is_handed_out_and_shown() {
    let (_dir, store) = declared("x\n", false);
    assert_eq!(store.get("token").unwrap(), "x");
    assert!(store.shown("token"));
    let redactor = store.redactor();
    assert_eq!(redactor.redact_str("exit status 2, x"), "exit status 2, x");
    assert_eq!(redactor.excerpt("exit status 2", Keep::Tail(5)), "(… 8 characters before) tus 2");
}

#[test]
fn hostile_short_values_are_refused_counting_characters_without_whitespace() {
    let cases = [
        ("        ", 0),      // eight spaces
        ("  x     \t ", 1),   // a letter padded to ten characters
        ("ключ", 4),          // eight bytes, four characters
        ("🔑🔑🔑", 3),        // twelve bytes
        ("abc\n", 3),         // the file's newline is trimmed, not counted
        ("a b c d e f g", 7), // spaces between do not count
    ];
    for (value, characters) in cases {
        let (_dir, store) = declared(value, true);
        let error = store.resolve("token").unwrap_err();
        assert_eq!(error, SecretError::TooShort { name: "token".into(), what: "its value", characters }, "{value:?}");
        assert_eq!(store.redactor().redact_str(&format!("a {value} b")), format!("a {value} b"), "{value:?}");
    }
    for value in ["пароль12", "password", "a b c d e f g h"] {
        let (_dir, store) = declared(value, true);
        assert_eq!(store.get("token").unwrap(), value);
    }
    // A secret that is a common word is replaced wherever the word appears: that is
    // the secret showing, not a false match.
    let (_dir, store) = declared("password", true);
    assert_eq!(store.redactor().redact_str("passwords"), "[redacted:token]s");
}

#[test]
fn a_url_whose_password_is_short_is_refused() {
    let (_dir, store) = declared("postgres://app:pw@db.internal/catalogue", true);
    let error = store.resolve("token").unwrap_err();
    assert_eq!(error, SecretError::TooShort { name: "token".into(), what: "the password in its URL", characters: 2 });
    let (_dir, store) = declared("postgres://app@db.internal/catalogue?password=%20x%20", true);
    assert!(matches!(store.resolve("token"), Err(SecretError::TooShort { characters: 1, .. })));
    let (_dir, store) = declared("postgres://app:s3cr%40t-long@db.internal/catalogue", true);
    assert!(store.get("token").is_ok());
}

#[test]
fn nothing_shorter_than_a_whole_secret_is_matched_inside_text() {
    for value in [
        "https://hooks.example/a/b?t=ab&team=ops&x=%20%20y",
        "https://h.example/ab?token=Zq81xPw0dd&team=ops",
        "postgres://app:long-enough-1@db/x?sslmode=disable",
        "https://h.example/ключ/🔑🔑?k=ключключ",
        "tok_0123456789abcdef",
    ] {
        let (_dir, store) = declared(value, true);
        store.get("token").unwrap();
        for (_, form) in store.shared.scrub.borrow().iter() {
            let text = String::from_utf8_lossy(form);
            assert!(significant_chars(&text) >= MIN_SECRET_CHARS, "{value}: form {text:?} is too short");
        }
        let redactor = store.redactor();
        let unrelated = "team ops ab x y exit status 2 /a/b ключ";
        assert_eq!(redactor.redact_str(unrelated), unrelated, "{value}");
    }
}

#[test]
fn an_excerpts_edge_counts_characters_not_bytes() {
    let (_dir, store) = declared("ключ-ключ-ключ", true);
    store.get("token").unwrap();
    let redactor = store.redactor();
    assert_eq!(redactor.excerpt("body клю", Keep::Head(100)), "body клю", "three characters stay");
    assert_eq!(redactor.excerpt("body ключ", Keep::Head(100)), "body [redacted:token]");
    assert_eq!(redactor.excerpt("-ключ rest", Keep::Head(100)), "[redacted:token] rest");
}

#[test]
fn redact_is_a_boolean_and_defaults_to_true() {
    let config =
        crate::config::parse("[secrets.a]\nenv = \"A\"\n[secrets.b]\nenv = \"B\"\nredact = false\n", "f").unwrap();
    assert!(config.secrets["a"].redact);
    assert!(!config.secrets["b"].redact);
    let error = crate::config::parse("[secrets.a]\nenv = \"A\"\nredact = \"no\"\n", "f").unwrap_err();
    assert_eq!(error.location.as_ref().map(|l| l.line), Some(3), "{error}");
    assert!(error.message.contains("boolean"), "{error}");
}

#[test]
fn a_declared_secret_is_located_at_its_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shipctl.toml");
    std::fs::write(&path, "# secrets\n\n[secrets.short]\nfile = \"s\"\n").unwrap();
    let project = crate::config::Project::load(&path).unwrap();
    let location = declared_at(&project, "short").unwrap();
    assert_eq!((location.file.as_str(), location.line, location.column), ("shipctl.toml", 3, 1));
}

#[test]
fn a_placeholder_of_one_repeated_character_is_refused() {
    for (value, distinct) in [("********", 1), ("--------------", 1), ("0000 1111", 2), ("abcabcabc", 3)] {
        let (_dir, store) = declared(value, true);
        let error = store.resolve("token").unwrap_err();
        assert_eq!(error, SecretError::TooPlain { name: "token".into(), distinct }, "{value:?}");
        assert!(error.is_unsafe_value());
        assert!(error.to_string().contains("[secrets.token]"), "{error}");
        assert_eq!(store.redactor().redact_str("------ ******** ------"), "------ ******** ------");
    }
    let (_dir, store) = declared("abcdabcd", true);
    assert!(store.get("token").is_ok());
}
