//! `backup` and `restore` against a real PostgreSQL server and real directories:
//! dumps verified and restored, retention, the backup listing, policy, and faults that
//! must leave nothing half-written.

use std::path::{Path, PathBuf};

use serde_json::Value;
use shipctl::effect::Mode;
use shipctl::journal::RunStatus;
use shipctl::run::RunReport;

use crate::postgres::{PASSWORD, Postgres};
use crate::support::Workspace;

/// A workspace whose `[databases.main]` is database `app` of `server`, password in a
/// secret file; `extra` is appended to shipctl.toml.
fn workspace(server: &Postgres, extra: &str) -> Workspace {
    let workspace = Workspace::new();
    workspace.write("secrets/db", &format!("{PASSWORD}\n"));
    workspace.config(&format!(
        "[secrets.db]\nfile = \"secrets/db\"\n\n[databases.main]\nurl = \"{}\"\npassword_secret = \"db\"\n{extra}",
        server.url("app")
    ));
    workspace
}

fn result(report: &RunReport, index: usize) -> Value {
    report.effects[index]
        .result
        .clone()
        .unwrap_or_else(|| panic!("effect {index} failed: {:?}", report.effects[index].error))
}

/// Names of the files in the default backup store.
fn store_files(workspace: &Workspace) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(workspace.path().join(".shipctl/backups")) else {
        return Vec::new();
    };
    let mut names: Vec<String> =
        entries.map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

fn table_oid(server: &Postgres) -> String {
    server.sql("app", "SELECT 'items'::regclass::oid")
}

fn sha256_of(path: &Path) -> String {
    shipctl::base::digest::sha256_hex(&std::fs::read(path).unwrap())
}

#[test]
fn a_dump_is_verified_recorded_and_restores_dropped_rows() {
    let server = Postgres::start();
    server.seed("app", 250);
    let workspace = workspace(&server, "");
    workspace.write(
        "backup.rhai",
        "let dump = backup(#{ postgres: \"main\", label: \"before 1.4.0\" });\nprint(dump.id);\n",
    );
    let report = workspace.run("backup.rhai", &[]);
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let dump = result(&report, 0);
    assert_eq!(dump["kind"], "postgres");
    assert_eq!(dump["database"], "main");
    assert_eq!(dump["label"], "before 1.4.0");
    assert_eq!(dump["verified"], true);
    let path = PathBuf::from(dump["path"].as_str().unwrap());
    assert!(path.starts_with(workspace.path().join(".shipctl/backups")), "{path:?}");
    assert_eq!(dump["sha256"], sha256_of(&path), "the recorded sha256 is the file's");
    assert_eq!(dump["bytes"], std::fs::metadata(&path).unwrap().len());
    let id = dump["id"].as_str().unwrap().to_string();
    assert_eq!(store_files(&workspace), vec![format!("{id}.dump"), format!("{id}.json")], "no temporary file is left");

    let journal = std::fs::read_to_string(report.journal.as_ref().unwrap()).unwrap();
    assert!(!journal.contains(PASSWORD), "the password is not journaled");

    server.sql("app", "DROP TABLE items");
    workspace.write("restore.rhai", &format!("restore(#{{ backup: \"{id}\" }});\n"));
    let report = workspace.run("restore.rhai", &[]);
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let restored = result(&report, 0);
    assert_eq!(restored["restored"], true);
    assert_eq!(restored["sha256"], dump["sha256"]);
    assert_eq!(server.sql("app", "SELECT count(*), sum(id) FROM items"), "250|31375");
    assert_eq!(server.sql("app", "SELECT name FROM items WHERE id = 17"), "item 17");
}

#[test]
fn restore_as_a_compensation_puts_the_database_back() {
    let server = Postgres::start();
    server.seed("app", 10);
    // The whole URL, password included, is a secret here.
    let workspace = Workspace::new();
    workspace.write("secrets/url", &server.url_with_password("app"));
    // And the PostgreSQL programs come from the server's own bin directory.
    workspace.config(&format!(
        "[secrets.db_url]\nfile = \"secrets/url\"\n\n[databases.main]\nurl_secret = \"db_url\"\n\n[backups]\npg_bin = \"{}\"\n",
        server.bin().display()
    ));
    workspace.write(
        "release.rhai",
        "let dump = backup(#{ postgres: \"main\", format: \"tar\" });\non_failure(|| restore(#{ backup: dump }));\nfail(\"the deploy broke\");\n",
    );
    let before = table_oid(&server);
    let report = workspace.run("release.rhai", &[]);
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(report.compensations.len(), 1);
    assert_eq!(report.compensations[0].error, None, "the restore succeeded");
    let restore = report.effects.iter().find(|effect| effect.kind == "restore").expect("restore ran");
    assert!(restore.compensation);
    assert_ne!(table_oid(&server), before, "pg_restore --clean recreated the table");
    assert_eq!(server.sql("app", "SELECT count(*) FROM items"), "10");
    assert!(result(&report, 0)["path"].as_str().unwrap().ends_with(".tar"));
    let journal = std::fs::read_to_string(report.journal.as_ref().unwrap()).unwrap();
    assert!(!journal.contains(PASSWORD) && !journal.contains("s3cret"), "the password is not journaled");
}

#[test]
fn retention_prunes_after_a_good_backup_and_never_after_a_failed_one() {
    let server = Postgres::start();
    server.seed("app", 3);
    let workspace = workspace(&server, "\n[backups]\nkeep = 2\n");
    workspace.write("backup.rhai", "backup(#{ postgres: \"main\" });\n");
    let ids: Vec<String> = (0..3)
        .map(|_| {
            let report = workspace.run("backup.rhai", &[]);
            assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
            result(&report, 0)["id"].as_str().unwrap().to_string()
        })
        .collect();
    let listed: Vec<String> = store_files(&workspace).into_iter().filter(|name| name.ends_with(".json")).collect();
    assert_eq!(listed, vec![format!("{}.json", ids[1]), format!("{}.json", ids[2])]);
    let report = workspace.run("backup.rhai", &[]);
    assert_eq!(result(&report, 0)["pruned"], serde_json::json!([ids[1]]));

    // A failed backup prunes nothing.
    let before = store_files(&workspace);
    workspace.write("secrets/db", "wrong password");
    let report = workspace.run("backup.rhai", &[]);
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(store_files(&workspace), before);
}

#[test]
fn a_wrong_password_fails_clearly_and_leaves_no_file() {
    let server = Postgres::start();
    server.seed("app", 1);
    let workspace = workspace(&server, "");
    workspace.write("secrets/db", "not the password");
    workspace.write("backup.rhai", "backup(#{ postgres: \"main\" });\n");
    let report = workspace.run("backup.rhai", &[]);
    assert_eq!(report.status, RunStatus::Failed);
    let error = report.error.unwrap();
    let help = error.help.clone().unwrap_or_default();
    let error = error.to_string();
    assert!(error.contains("pg_dump failed for database main"), "{error}");
    assert!(error.contains("password authentication failed"), "{error}");
    assert!(help.contains("check the password secret"), "{help}");
    assert!(!error.contains("not the password"), "{error}");
    assert!(store_files(&workspace).is_empty(), "{:?}", store_files(&workspace));
}

#[test]
fn a_wrong_url_names_the_database_and_what_to_check() {
    let server = Postgres::start();
    let workspace = Workspace::new();
    // A port nothing listens on, given as a URL by the environment table.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    workspace.config(&format!("[environments.staging]\ndatabase = \"postgres://postgres@127.0.0.1:{closed}/app\"\n"));
    workspace.write("backup.rhai", "backup(#{ postgres: environment().database });\n");
    let report = workspace.execute("backup.rhai", Mode::Run, "staging", &[], None).unwrap();
    assert_eq!(report.status, RunStatus::Failed);
    let error = report.error.unwrap();
    let help = error.help.clone().unwrap_or_default();
    let error = error.to_string();
    assert!(error.contains(&format!("app@127.0.0.1:{closed}")), "{error}");
    assert!(help.contains("check the host and port"), "{help}");
    assert!(store_files(&workspace).is_empty());

    // A password inside a URL the script sees is refused before anything runs.
    workspace.config(&format!("[environments.staging]\ndatabase = \"{}\"\n", server.url_with_password("app")));
    let report = workspace.execute("backup.rhai", Mode::Run, "staging", &[], None).unwrap();
    let error = report.error.unwrap().to_string();
    assert!(error.contains("holds a password"), "{error}");
    assert!(report.effects.is_empty(), "refused before the intent was journaled");
}

/// The pids of running pg_dump processes connecting to `port`.
fn pg_dumps_of(port: u16) -> Vec<String> {
    let needle = format!("127.0.0.1:{port}/");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline);
            let program = cmdline.split('\0').next().unwrap_or_default();
            (program.ends_with("pg_dump") && cmdline.contains(&needle))
                .then(|| entry.file_name().to_string_lossy().into_owned())
        })
        .collect()
}

#[test]
fn a_dump_cut_off_by_the_deadline_leaves_nothing_behind() {
    let server = Postgres::start();
    server.seed("app", 10);
    // Another session holds a lock pg_dump must wait for.
    let mut holder = std::process::Command::new(server.bin().join("psql"))
        .args(["--no-psqlrc", "--quiet", &format!("--dbname={}", server.url("app"))])
        .env("PGPASSWORD", PASSWORD)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = holder.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, b"BEGIN;\nLOCK TABLE items IN ACCESS EXCLUSIVE MODE;\n").unwrap();
    let locked = "SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND relation = 'items'::regclass";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while server.sql("app", locked) == "0" {
        assert!(std::time::Instant::now() < deadline, "the lock was not taken");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    let workspace = workspace(&server, "\n[limits]\ndeadline = \"2s\"\n");
    workspace.write("backup.rhai", "backup(#{ postgres: \"main\" });\n");
    let report = workspace.run("backup.rhai", &[]);
    assert_eq!(report.status, RunStatus::Failed);
    let error = report.error.unwrap().to_string();
    assert!(error.contains("deadline"), "{error}");
    assert!(store_files(&workspace).is_empty(), "{:?}", store_files(&workspace));
    // pg_dump was killed, not left waiting for the lock.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !pg_dumps_of(server.port).is_empty() {
        assert!(std::time::Instant::now() < deadline, "pg_dump still runs: {:?}", pg_dumps_of(server.port));
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    drop(stdin);
    holder.wait().unwrap();
}

#[test]
fn pg_dump_missing_from_the_path_says_how_to_install_it() {
    let server = Postgres::start();
    server.seed("app", 1);
    let workspace = workspace(&server, "");
    workspace.write("backup.rhai", "backup(#{ postgres: \"main\" });\n");
    let empty = tempfile::tempdir().unwrap();
    let output = workspace.shipctl_with_env(&["run", "backup.rhai"], &[("PATH", empty.path().to_str().unwrap())]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stderr.contains("pg_dump not found on the PATH"), "{}", output.stderr);
    assert!(output.stderr.contains("apt-get install postgresql-client"), "{}", output.stderr);
    assert!(store_files(&workspace).is_empty());
}

#[test]
fn an_unusable_backup_directory_fails_before_dumping() {
    let server = Postgres::start();
    server.seed("app", 1);
    let workspace = workspace(&server, "\n[backups]\ndir = \"backups\"\n");
    workspace.write("backups", "a file where the directory should be");
    workspace.write("backup.rhai", "backup(#{ postgres: \"main\" });\n");
    let report = workspace.run("backup.rhai", &[]);
    assert_eq!(report.status, RunStatus::Failed);
    let error = report.error.unwrap().to_string();
    assert!(error.contains("backup directory"), "{error}");
    assert_eq!(
        std::fs::read_to_string(workspace.path().join("backups")).unwrap(),
        "a file where the directory should be"
    );
}

#[test]
fn a_modified_backup_is_refused_and_the_database_untouched() {
    let server = Postgres::start();
    server.seed("app", 5);
    let workspace = workspace(&server, "");
    workspace.write("backup.rhai", "backup(#{ postgres: \"main\" });\n");
    let dump = result(&workspace.run("backup.rhai", &[]), 0);
    let path = PathBuf::from(dump["path"].as_str().unwrap());
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    server.sql("app", "DELETE FROM items WHERE id > 2");
    let before = table_oid(&server);

    workspace.write("restore.rhai", &format!("restore(#{{ backup: \"{}\" }});\n", dump["id"].as_str().unwrap()));
    let report = workspace.run("restore.rhai", &[]);
    assert_eq!(report.status, RunStatus::Failed);
    let error = report.error.unwrap().to_string();
    assert!(error.contains("was modified after it was written"), "{error}");
    assert!(error.contains("refusing to restore"), "{error}");
    assert_eq!(table_oid(&server), before, "nothing was restored");
    assert_eq!(server.sql("app", "SELECT count(*) FROM items"), "2");

    let listing = workspace.shipctl(&["backups", "--verify"]);
    assert_eq!(listing.code, 0, "{listing:?}");
    assert!(listing.stdout.contains("modified"), "{}", listing.stdout);
}

#[test]
fn restoring_into_a_protected_environment_is_a_policy_decision() {
    let server = Postgres::start();
    server.seed("app", 1);
    let workspace = workspace(
        &server,
        "\n[environments.production]\nprotected = true\n\n[environments.rehearsal]\nprotected = true\nallow_restore = true\n",
    );
    workspace.write("restore.rhai", "restore(#{ backup: \"main-production-20260101-000000-000\" });\n");
    let refused = workspace.shipctl(&["plan", "restore.rhai", "--env", "production"]);
    assert_eq!(refused.code, 4, "{refused:?}");
    assert!(
        refused.stderr.contains("restore into protected environment \"production\" is not allowed"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("allow_restore = true"), "{}", refused.stderr);
    let allowed = workspace.shipctl(&["plan", "restore.rhai", "--env", "rehearsal"]);
    assert_eq!(allowed.code, 0, "{allowed:?}");
}

#[test]
fn a_plan_shows_a_compensating_restore_that_policy_would_refuse() {
    let workspace = Workspace::new();
    workspace.config("[environments.production]\nprotected = true\n");
    workspace.write("site/index.html", "hi");
    workspace.write(
        "release.rhai",
        "let dump = backup(#{ files: \"site\" });\non_failure(|| restore(#{ backup: dump }));\nlog(\"deploy\");\n",
    );
    let plan = workspace.shipctl(&["plan", "release.rhai", "--env", "production"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    let compensations = plan.stdout.split("compensations run").nth(1).expect("a compensation section");
    assert!(compensations.contains("restore"), "{}", plan.stdout);
    assert!(
        compensations.contains("refused by policy: restore into protected environment \"production\" is not allowed"),
        "{}",
        plan.stdout
    );
}

#[test]
fn files_are_archived_verified_and_restored_in_place() {
    let workspace = Workspace::new();
    workspace.config("[backups]\nkeep = 5\n");
    workspace.write("uploads/a.txt", "alpha");
    workspace.write("uploads/deep/b.txt", "beta");
    workspace
        .write("backup.rhai", "let files = backup(#{ files: \"uploads\", label: \"assets\" });\nprint(files.id);\n");
    let report = workspace.run("backup.rhai", &[]);
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let files = result(&report, 0);
    assert_eq!(files["kind"], "files");
    assert_eq!(files["verified"], true);
    let path = PathBuf::from(files["path"].as_str().unwrap());
    assert_eq!(files["sha256"], sha256_of(&path));

    workspace.write("uploads/a.txt", "changed");
    std::fs::remove_file(workspace.path().join("uploads/deep/b.txt")).unwrap();
    workspace.write("uploads/new.txt", "added after the backup");
    workspace.write("restore.rhai", &format!("restore(#{{ backup: \"{}\" }});\n", files["id"].as_str().unwrap()));
    let report = workspace.run("restore.rhai", &[]);
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let uploads = workspace.path().join("uploads");
    assert_eq!(std::fs::read_to_string(uploads.join("a.txt")).unwrap(), "alpha");
    assert_eq!(std::fs::read_to_string(uploads.join("deep/b.txt")).unwrap(), "beta");
    assert!(!uploads.join("new.txt").exists(), "the directory is as it was at the backup");
    let leftovers: Vec<_> = std::fs::read_dir(workspace.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("restore-") || name.contains("replaced-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Outside the scripts root only through [backups.paths].
    workspace.write("escape.rhai", "backup(#{ files: \"../\" });\n");
    let error = workspace.plan("escape.rhai", &[]).error.unwrap().to_string();
    assert!(error.contains("outside the scripts root"), "{error}");
}

#[test]
fn the_backup_listing_shows_verification_state() {
    let workspace = Workspace::new();
    workspace.config("[environments.staging]\nbackup_dir = \"staging-backups\"\n");
    workspace.write("site/index.html", "<h1>hi</h1>");
    workspace.write("backup.rhai", "backup(#{ files: \"site\" });\n");
    let local = workspace.run("backup.rhai", &[]);
    let staging = workspace.execute("backup.rhai", Mode::Run, "staging", &[], None).unwrap();
    let local_id = result(&local, 0)["id"].as_str().unwrap().to_string();
    let staging_id = result(&staging, 0)["id"].as_str().unwrap().to_string();
    assert!(result(&staging, 0)["path"].as_str().unwrap().contains("staging-backups"));

    let all = workspace.shipctl(&["backups"]);
    assert_eq!(all.code, 0, "{all:?}");
    assert!(all.stdout.contains(&local_id) && all.stdout.contains(&staging_id), "{}", all.stdout);
    assert!(all.stdout.contains("verified"), "{}", all.stdout);
    let only = workspace.shipctl(&["backups", "--env", "staging", "--output", "json"]);
    let listed: Value = serde_json::from_str(&only.stdout).unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], staging_id.as_str());
    assert_eq!(listed[0]["state"], "verified");

    std::fs::remove_file(result(&local, 0)["path"].as_str().unwrap()).unwrap();
    // What a killed backup leaves is not listed as a backup, but pointed out.
    workspace.write(".shipctl/backups/.partial-site-local-20260101-000000-000.tar.gz", "cut short");
    let all = workspace.shipctl(&["backups", "--verify"]);
    let line = all.stdout.lines().find(|line| line.contains(&local_id)).unwrap();
    assert!(line.contains("missing"), "{line}");
    assert!(!all.stdout.contains(".partial-"), "{}", all.stdout);
    assert!(all.stderr.contains("left from a backup that was interrupted"), "{}", all.stderr);
}

#[test]
fn plan_dumps_nothing_and_refresh_asks_the_database_its_size() {
    let server = Postgres::start();
    server.seed("app", 1000);
    let workspace = workspace(&server, "");
    workspace.write("backup.rhai", "backup(#{ postgres: \"main\" });\n");
    let plan = workspace.plan("backup.rhai", &[]);
    assert_eq!(plan.status, RunStatus::Succeeded, "{:?}", plan.error);
    assert_eq!(result(&plan, 0)["bytes"], 0);
    let mut request = shipctl::run::RunRequest::new(workspace.path().join("backup.rhai"), "local", Mode::Plan);
    request.refresh = true;
    let refreshed = shipctl::run::execute(request, Box::new(shipctl::effect::Silent)).unwrap();
    assert_eq!(refreshed.status, RunStatus::Succeeded, "{:?}", refreshed.error);
    let size: u64 = server.sql("app", "SELECT pg_database_size('app')").parse().unwrap();
    assert_eq!(result(&refreshed, 0)["bytes"], size);
    assert!(store_files(&workspace).is_empty(), "a plan writes nothing");
}
