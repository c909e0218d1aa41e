//! `shipctl backups`: the backups in the project's backup stores, oldest first, with
//! their verification state.

use serde::Serialize;

use crate::config::Project;
use crate::error::Error;
use crate::exit_codes;
use crate::providers::backup_store::{BackupRecord, Store, all_stores, hash_file};

use super::output;
use super::{BackupsArgs, OutputFormat};

/// One backup as listed.
#[derive(Debug, Serialize)]
struct Listed {
    #[serde(flatten)]
    record: BackupRecord,
    path: String,
    /// `verified`, `unverified` (not read back when written), `missing` (data gone),
    /// `modified` (size or, with `--verify`, sha256 differs from the record).
    state: &'static str,
    /// The sha256 was recomputed for this listing.
    sha256_checked: bool,
}

fn state(store: &Store, record: &BackupRecord, verify: bool) -> &'static str {
    // Only a regular file counts: a FIFO put in its place must not hang the listing.
    let Ok(path) = store.data_file(record) else {
        return "missing";
    };
    let Ok(metadata) = std::fs::metadata(&path) else {
        return "missing";
    };
    if metadata.len() != record.bytes {
        return "modified";
    }
    if verify {
        match hash_file(&path) {
            Ok((sha256, _)) if sha256 == record.sha256 => {}
            Ok(_) => return "modified",
            Err(_) => return "missing",
        }
    }
    if record.verified { "verified" } else { "unverified" }
}

/// `shipctl backups`: find the stores, list their backups, print them.
pub fn backups(args: BackupsArgs) -> i32 {
    let stores = match stores(&args) {
        Ok(stores) => stores,
        Err(code) => return code,
    };
    let listed = match list(&args, &stores) {
        Ok(listed) => listed,
        Err(code) => return code,
    };
    if args.output == OutputFormat::Json {
        match serde_json::to_string_pretty(&listed) {
            Ok(json) => output::outln(&json),
            Err(error) => output::err(&format!("error: {error}\n")),
        }
        return exit_codes::SUCCESS;
    }
    if listed.is_empty() {
        let dirs: Vec<String> = stores.iter().map(|store| store.dir.display().to_string()).collect();
        output::outln(&format!("no backups in {}", dirs.join(", ")));
        return exit_codes::SUCCESS;
    }
    print_table(&listed);
    if !args.verify {
        output::outln("(sizes checked; --verify recomputes every sha256)");
    }
    exit_codes::SUCCESS
}

/// The backup stores to list: the environment's, or all of the project's. Err: the
/// exit code after an error was printed.
fn stores(args: &BackupsArgs) -> Result<Vec<Store>, i32> {
    let project = match Project::discover(&args.root) {
        Ok(project) => project,
        Err(error) => {
            output::print_error(&Error::Config(error));
            return Err(exit_codes::USAGE);
        }
    };
    let stores = match &args.env {
        Some(name) => match project.environment(name) {
            Ok(environment) => vec![Store::new(project.backup_dir(&environment))],
            Err(error) => {
                output::print_error(&Error::Config(error));
                return Err(exit_codes::USAGE);
            }
        },
        None => all_stores(&project, None),
    };
    Ok(stores)
}

/// The backups in `stores` (of the environment asked for), each with its state,
/// oldest first; a store's problems are printed as warnings. Err: the exit code after
/// an error was printed.
fn list(args: &BackupsArgs, stores: &[Store]) -> Result<Vec<Listed>, i32> {
    let mut listed = Vec::new();
    for store in stores {
        let (records, problems) = match store.list() {
            Ok(found) => found,
            Err(error) => {
                output::print_error(&Error::usage(error.message, error.help));
                return Err(exit_codes::INTERNAL);
            }
        };
        for problem in problems {
            output::err(&format!("warning: {problem}\n"));
        }
        for record in records {
            if args.env.as_ref().is_some_and(|env| &record.environment != env) {
                continue;
            }
            let state = state(store, &record, args.verify);
            let path = store.data_path(&record).display().to_string();
            listed.push(Listed { record, path, state, sha256_checked: args.verify });
        }
    }
    listed.sort_by(|a, b| (&a.record.created_at, &a.record.id).cmp(&(&b.record.created_at, &b.record.id)));
    Ok(listed)
}

/// `listed` as a table for people, one backup a line.
fn print_table(listed: &[Listed]) {
    let id_width = listed.iter().map(|item| item.record.id.len()).max().unwrap_or(2).max(2);
    let source_width = listed.iter().map(|item| item.record.source.len().min(40)).max().unwrap_or(6).max(6);
    let env_width = listed.iter().map(|item| item.record.environment.len()).max().unwrap_or(3).max(3);
    output::outln(&format!(
        "{:<id_width$}  {:<8}  {:<source_width$}  {:<env_width$}  {:<24}  {:>10}  {:<10}  LABEL",
        "ID", "KIND", "SOURCE", "ENV", "CREATED", "BYTES", "STATE"
    ));
    for item in listed {
        let record = &item.record;
        let source: String = record.source.chars().take(40).collect();
        output::outln(
            format!(
                "{:<id_width$}  {:<8}  {:<source_width$}  {:<env_width$}  {:<24}  {:>10}  {:<10}  {}",
                record.id,
                record.kind.as_str(),
                source,
                record.environment,
                record.created_at,
                record.bytes,
                item.state,
                record.label
            )
            .trim_end(),
        );
    }
}
