//! PostgreSQL through its own tools: `pg_dump` writes the archive, `pg_restore --list`
//! reads it back, `pg_restore` restores it, `psql` answers read-only questions for
//! `plan --refresh`. Each is run with an argument vector (never a shell); the password
//! travels in `PGPASSWORD` for the child alone, never on a command line or in the
//! journal.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::base::confined::ConfiguredPath;
use crate::base::suggest::did_you_mean;
use crate::config::check_database_url;
use crate::effect::{EffectContext, EffectError};

/// A database to dump or restore into, resolved from what a script named.
#[derive(Debug, Clone)]
pub struct Database {
    /// As the script named it: a `[databases.*]` name, or the URL it gave.
    pub source: String,
    /// For people: the config name, or `dbname@host:port`.
    pub display: String,
    /// The database's name on the server.
    pub name: String,
    /// The connection URL without password.
    url: String,
    password: Option<String>,
}

/// Find the database `source` names: a `[databases.*]` entry, else a postgres URL
/// (from the environment's table, say) without a password in it. Every URL, from
/// shipctl.toml, a secret or the script, goes through [`split_password`]: what reaches
/// a program's command line never holds a password.
pub fn resolve(source: &str, context: &EffectContext) -> Result<Database, EffectError> {
    let databases = &context.project.config.databases;
    if let Some(config) = databases.get(source) {
        let (url, password) = match (&config.url, &config.url_secret) {
            (Some(url), _) => {
                let (url, inline) = split_password(url)
                    .map_err(|message| EffectError::new(format!("[databases.{source}] url: {message}")))?;
                if inline.is_some() {
                    return Err(EffectError::new(format!(
                        "[databases.{source}] url holds a password, which would be shown and journaled"
                    ))
                    .with_help("put the password in a secret and name it with password_secret"));
                }
                let password = match &config.password_secret {
                    Some(secret) => Some(context.secrets.get(secret).map_err(EffectError::new)?),
                    None => None,
                };
                (url, password)
            }
            (None, Some(secret)) => {
                let whole = context.secrets.get(secret).map_err(EffectError::new)?;
                split_password(&whole).map_err(|message| {
                    EffectError::new(format!("secret \"{secret}\" of [databases.{source}]: {message}"))
                })?
            }
            (None, None) => return Err(EffectError::new(format!("[databases.{source}] has no url"))),
        };
        let name = database_name(&url);
        return Ok(Database { source: source.to_string(), display: source.to_string(), name, url, password });
    }
    if source.contains("://") {
        check_database_url(source).map_err(|message| {
            EffectError::new(message)
                .with_help("declare the database as [databases.<name>] with password_secret, and name it instead")
        })?;
        let (url, password) = split_password(source).map_err(EffectError::new)?;
        if password.is_some() {
            return Err(EffectError::new("the database URL holds a password, which would be shown and journaled")
                .with_help("declare the database as [databases.<name>] with password_secret, and name it instead"));
        }
        let parsed = reqwest::Url::parse(&url).map_err(|error| EffectError::new(error.to_string()))?;
        let name = database_name(&url);
        let host = parsed.host_str().unwrap_or("localhost");
        let display = match parsed.port() {
            Some(port) => format!("{name}@{host}:{port}"),
            None => format!("{name}@{host}"),
        };
        return Ok(Database { source: source.to_string(), display, name, url, password: None });
    }
    let names: Vec<&str> = databases.keys().map(String::as_str).collect();
    let error = EffectError::new(format!("no database \"{source}\": not a [databases.*] entry nor a postgres:// URL"));
    Err(match did_you_mean(source, names.iter().copied()) {
        Some(close) => error.with_help(format!("did you mean \"{close}\"?")),
        None if names.is_empty() => error.with_help(
            "declare it as [databases.<name>] with url = \"postgres://user@host/db\" and password_secret in shipctl.toml",
        ),
        None => error.with_help(format!("databases: {}", names.join(", "))),
    })
}

/// Takes a connection URL apart: the URL without any password (neither in its userinfo
/// nor as `?password=`), and the password (decoded), which travels in `PGPASSWORD`
/// alone. A libpq conninfo string (`host=... password=...`) is refused: only a URL can
/// be taken apart with certainty. A key whose value libpq would read as a secret of its
/// own (`sslpassword`) is refused too.
fn split_password(url: &str) -> Result<(String, Option<String>), String> {
    const FORM: &str =
        "write it as postgres://user@host:5432/dbname (the password may be in it only where a secret holds the URL)";
    if !url.contains("://") {
        let what = if url.contains('=') { "a conninfo string (key=value ...)" } else { "not a URL" };
        return Err(format!("{what} is not accepted; {FORM}"));
    }
    let mut parsed = reqwest::Url::parse(url).map_err(|error| format!("not a URL ({error}); {FORM}"))?;
    if !matches!(parsed.scheme(), "postgres" | "postgresql") {
        return Err(format!("not a postgres:// URL; {FORM}"));
    }
    let mut passwords: Vec<String> = parsed
        .password()
        .map(|password| percent_encoding::percent_decode_str(password).decode_utf8_lossy().into_owned())
        .into_iter()
        .collect();
    let mut kept: Vec<(String, String)> = Vec::new();
    for (key, value) in parsed.query_pairs() {
        match key.as_ref() {
            "password" => passwords.push(value.into_owned()),
            "sslpassword" => {
                return Err("the URL holds sslpassword, which would reach pg_dump's command line; \
                            use a client key without a passphrase, readable only by you"
                    .to_string());
            }
            _ => kept.push((key.into_owned(), value.into_owned())),
        }
    }
    passwords.dedup();
    if passwords.len() > 1 {
        return Err("the URL holds two different passwords; keep one".to_string());
    }
    parsed.set_password(None).map_err(|()| "cannot remove the password from the URL".to_string())?;
    if kept.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(kept);
    }
    Ok((parsed.to_string(), passwords.pop()))
}

fn database_name(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .map(|parsed| parsed.path().trim_start_matches('/').to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "postgres".to_string())
}

/// The PostgreSQL client programs, from `[backups] pg_bin` or the `PATH`.
pub struct Tools {
    bin: Option<PathBuf>,
}

impl Tools {
    pub fn new(context: &EffectContext) -> Tools {
        let root = &context.project.root;
        Tools {
            bin: context
                .project
                .config
                .backups
                .pg_bin
                .as_ref()
                .map(|dir| ConfiguredPath::from_config(root, dir).into_path()),
        }
    }

    fn program(&self, name: &str) -> Result<PathBuf, EffectError> {
        let found = match &self.bin {
            Some(dir) => Some(dir.join(name)).filter(|path| path.is_file()),
            None => std::env::var_os("PATH")
                .and_then(|path| std::env::split_paths(&path).map(|dir| dir.join(name)).find(|path| path.is_file())),
        };
        found.ok_or_else(|| {
            let place = match &self.bin {
                Some(dir) => format!("in {} ([backups] pg_bin)", dir.display()),
                None => "on the PATH".to_string(),
            };
            EffectError::new(format!("{name} not found {place}")).with_help(
                "install the PostgreSQL client programs (Debian: apt-get install postgresql-client), \
                 or set [backups] pg_bin to the directory that holds them",
            )
        })
    }

    /// Run `program` with `args` against `database`, within the run's deadline; the
    /// child is killed if the deadline passes. Returns stdout.
    fn run(
        &self,
        program: &str,
        args: &[String],
        database: &Database,
        context: &EffectContext,
    ) -> Result<String, EffectError> {
        let path = self.program(program)?;
        tracing::debug!(program = %path.display(), argv = %context.redactor().redact_str(&args.join(" ")), "running a PostgreSQL tool");
        let mut command = tokio::process::Command::new(&path);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .env_remove("PGPASSWORD");
        if std::env::var_os("PGCONNECT_TIMEOUT").is_none() {
            command.env("PGCONNECT_TIMEOUT", "10");
        }
        if let Some(password) = &database.password {
            command.env("PGPASSWORD", password);
        }
        let output = context
            .block_on(|| command.output())?
            .map_err(|error| EffectError::new(format!("cannot run {}: {error}", path.display())))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let stderr = stderr.trim();
            let status = output.status.code().map(|code| format!("exit status {code}")).unwrap_or("killed".into());
            return Err(EffectError::new(format!(
                "{program} failed for database {} ({status}): {}",
                database.display,
                if stderr.is_empty() { "no message" } else { stderr }
            ))
            .with_help(failure_help(stderr)));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// `pg_dump` of `database` in `format` (`custom` or `tar`) to `file`.
    pub fn dump(
        &self,
        database: &Database,
        format: &str,
        file: &Path,
        context: &EffectContext,
    ) -> Result<(), EffectError> {
        let args = vec![
            format!("--format={format}"),
            format!("--file={}", file.display()),
            "--no-password".to_string(),
            format!("--dbname={}", database.url),
        ];
        self.run("pg_dump", &args, database, context).map(|_| ())
    }

    /// `pg_restore --list`: reads the whole table of contents back; returns the number
    /// of entries.
    pub fn list(&self, file: &Path, context: &EffectContext) -> Result<usize, EffectError> {
        let path = self.program("pg_restore")?;
        let mut command = tokio::process::Command::new(&path);
        command
            .arg("--list")
            .arg(file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let output = context
            .block_on(|| command.output())?
            .map_err(|error| EffectError::new(format!("cannot run {}: {error}", path.display())))?;
        if !output.status.success() {
            return Err(EffectError::new(format!(
                "pg_restore --list cannot read the dump: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        let listing = String::from_utf8_lossy(&output.stdout);
        Ok(listing.lines().filter(|line| !line.starts_with(';') && !line.trim().is_empty()).count())
    }

    /// `pg_restore` of `file` into `database`: in one transaction, stopping at the first
    /// error, dropping the objects it recreates first. A failure changes nothing.
    pub fn restore(&self, database: &Database, file: &Path, context: &EffectContext) -> Result<(), EffectError> {
        let args = vec![
            "--clean".to_string(),
            "--if-exists".to_string(),
            "--single-transaction".to_string(),
            "--exit-on-error".to_string(),
            "--no-password".to_string(),
            format!("--dbname={}", database.url),
            file.display().to_string(),
        ];
        self.run("pg_restore", &args, database, context).map(|_| ())
    }

    /// The database's size in bytes (`plan --refresh`: it is reachable, and how big).
    pub fn size(&self, database: &Database, context: &EffectContext) -> Result<u64, EffectError> {
        let args = vec![
            "--no-password".to_string(),
            "--no-psqlrc".to_string(),
            "--tuples-only".to_string(),
            "--no-align".to_string(),
            "--command=SELECT pg_database_size(current_database())".to_string(),
            format!("--dbname={}", database.url),
        ];
        let output = self.run("psql", &args, database, context)?;
        output.trim().parse().map_err(|_| {
            EffectError::new(format!("psql answered {:?} for the size of {}", output.trim(), database.display))
        })
    }
}

fn failure_help(stderr: &str) -> String {
    if stderr.contains("password authentication failed") || stderr.contains("no password supplied") {
        return "check the password secret of the database in shipctl.toml".to_string();
    }
    if stderr.contains("Connection refused")
        || stderr.contains("could not translate host name")
        || stderr.contains("timeout")
    {
        return "check the host and port of the database URL, and that the server is up".to_string();
    }
    if stderr.contains("does not exist") {
        return "check the database (and user) named in the URL".to_string();
    }
    if stderr.contains("server version mismatch") {
        return "pg_dump must be at least as new as the server: set [backups] pg_bin to a newer PostgreSQL's bin directory".to_string();
    }
    "the message above is PostgreSQL's".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_leaves_the_url() {
        let (url, password) = split_password("postgres://app:s3cr%40t@db.internal:5433/catalogue").unwrap();
        assert_eq!(url, "postgres://app@db.internal:5433/catalogue");
        assert_eq!(password.as_deref(), Some("s3cr@t"));
        assert_eq!(database_name(&url), "catalogue");
        assert_eq!(database_name("postgres://app@db"), "postgres");
    }

    #[test]
    fn the_password_leaves_the_query_string() {
        let (url, password) =
            split_password("postgres://app@db:5432/catalogue?sslmode=require&password=s3cr%26t").unwrap();
        assert_eq!(url, "postgres://app@db:5432/catalogue?sslmode=require");
        assert_eq!(password.as_deref(), Some("s3cr&t"));
        let (url, password) = split_password("postgresql://app:pw@db/x?password=pw").unwrap();
        assert_eq!((url.as_str(), password.as_deref()), ("postgresql://app@db/x", Some("pw")));
        let (url, password) = split_password("postgres://app@db/x").unwrap();
        assert_eq!((url.as_str(), password), ("postgres://app@db/x", None));
    }

    #[test]
    fn what_cannot_be_taken_apart_is_refused() {
        let conninfo = split_password("host=db dbname=x password=pw").unwrap_err();
        assert!(conninfo.contains("conninfo string") && !conninfo.contains("pw"), "{conninfo}");
        assert!(split_password("postgres://a:one@db/x?password=two").unwrap_err().contains("two different"));
        assert!(split_password("postgres://db/x?sslpassword=k").unwrap_err().contains("sslpassword"));
        assert!(split_password("mysql://db/x").unwrap_err().contains("not a postgres"));
    }
}
