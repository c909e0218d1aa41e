//! A real PostgreSQL server for tests: a fresh cluster (`initdb`) in a temporary
//! directory, started on a free loopback port with password authentication, stopped
//! and deleted on drop. PostgreSQL refuses to run as root, so where the tests run as
//! root the cluster belongs to the `postgres` user (or `nobody`), and the server runs
//! as that user.

use std::fs::File;
use std::os::unix::fs::chown;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The superuser's password in every test cluster: with characters that must be
/// percent-encoded in a URL.
pub const PASSWORD: &str = "s3cret p@ss/word";

const INSTALL: &str = "install PostgreSQL (Debian: apt-get install postgresql postgresql-client; ./.ci/test does)";

/// A running PostgreSQL cluster.
pub struct Postgres {
    dir: tempfile::TempDir,
    child: Option<Child>,
    bin: PathBuf,
    pub port: u16,
}

/// Where the server programs are: Debian keeps them out of the `PATH`.
fn server_bin() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path).find(|dir| dir.join("initdb").is_file() && dir.join("postgres").is_file())
    });
    on_path.unwrap_or_else(|| {
        panic!("initdb and postgres not found in /usr/lib/postgresql/*/bin or on the PATH: {INSTALL}")
    })
}

/// The user to run the server as: ourselves, unless we are root.
fn server_user() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    let find = |name: &str| {
        passwd.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() < 4 || fields[0] != name {
                return None;
            }
            Some((fields[2].parse().ok()?, fields[3].parse().ok()?))
        })
    };
    Some(find("postgres").or_else(|| find("nobody")).expect("a postgres or nobody user to run PostgreSQL as"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn as_user(command: &mut Command, user: Option<(u32, u32)>) -> &mut Command {
    if let Some((uid, gid)) = user {
        command.uid(uid).gid(gid);
    }
    command
}

impl Postgres {
    /// initdb a new cluster and start it; panics with what to install if PostgreSQL
    /// is missing.
    pub fn start() -> Postgres {
        let bin = server_bin();
        let user = server_user();
        // The server's user must reach the directory: under root, /tmp rather than a
        // TMPDIR that may sit in root's home.
        let builder = tempfile::Builder::new().prefix("shipctl-pg-").clone();
        let dir = match user {
            Some(_) => builder.tempdir_in("/tmp"),
            None => builder.tempdir(),
        }
        .expect("temp dir");
        if let Some((uid, gid)) = user {
            chown(dir.path(), Some(uid), Some(gid)).expect("chown the cluster directory");
        }
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, format!("{PASSWORD}\n")).unwrap();
        if let Some((uid, gid)) = user {
            chown(&pwfile, Some(uid), Some(gid)).unwrap();
        }
        let data = dir.path().join("data");
        let output = as_user(&mut Command::new(bin.join("initdb")), user)
            .current_dir(dir.path())
            .args(["--username=postgres", "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .arg(format!("--pgdata={}", data.display()))
            .output()
            .unwrap_or_else(|error| panic!("cannot run {}: {error}; {INSTALL}", bin.join("initdb").display()));
        assert!(output.status.success(), "initdb failed: {}", String::from_utf8_lossy(&output.stderr));
        let mut postgres = Postgres { dir, child: None, bin, port: 0 };
        for _ in 0..5 {
            if postgres.launch(user) {
                return postgres;
            }
        }
        panic!("PostgreSQL did not start: {}", postgres.log());
    }

    /// Start the server on a free port; false if the port was taken meanwhile.
    fn launch(&mut self, user: Option<(u32, u32)>) -> bool {
        let port = free_port();
        let log = File::create(self.dir.path().join("server.log")).unwrap();
        let child = as_user(&mut Command::new(self.bin.join("postgres")), user)
            .current_dir(self.dir.path())
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .arg("-p")
            .arg(port.to_string())
            .arg("-k")
            .arg(self.dir.path())
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off"])
            .args(["-c", "synchronous_commit=off", "-c", "max_connections=20", "-c", "shared_buffers=16MB"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start postgres: {error}; {INSTALL}"));
        self.child = Some(child);
        self.port = port;
        let pid_file = self.dir.path().join("data/postmaster.pid");
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(_)) = child.try_wait()
            {
                self.child = None;
                let log = self.log();
                assert!(log.contains("could not bind") || log.contains("in use"), "postgres exited: {log}");
                return false;
            }
            let ready = std::fs::read_to_string(&pid_file)
                .map(|text| text.lines().nth(7).is_some_and(|status| status.trim() == "ready"))
                .unwrap_or(false);
            if ready {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("PostgreSQL not ready after 60 s: {}", self.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// `postgres://postgres@127.0.0.1:<port>/<database>`, without password.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// The same URL with the password in it, percent-encoded.
    pub fn url_with_password(&self, database: &str) -> String {
        let password: String =
            percent_encoding::utf8_percent_encode(PASSWORD, percent_encoding::NON_ALPHANUMERIC).collect();
        format!("postgres://postgres:{password}@127.0.0.1:{}/{database}", self.port)
    }

    /// Run SQL with psql; returns its unaligned output. Panics on failure.
    pub fn sql(&self, database: &str, sql: &str) -> String {
        let output = Command::new(self.bin.join("psql"))
            .args(["--no-psqlrc", "--tuples-only", "--no-align", "--quiet", "--set=ON_ERROR_STOP=1"])
            .arg(format!("--dbname={}", self.url(database)))
            .arg(format!("--command={sql}"))
            .env("PGPASSWORD", PASSWORD)
            .output()
            .unwrap_or_else(|error| panic!("cannot run psql: {error}; {INSTALL}"));
        assert!(output.status.success(), "psql {sql:?} failed: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// A database with a table `items` of `rows` rows.
    pub fn seed(&self, database: &str, rows: u32) {
        self.sql("postgres", &format!("CREATE DATABASE {database}"));
        self.sql(database, "CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL)");
        self.sql(database, &format!("INSERT INTO items SELECT n, 'item ' || n FROM generate_series(1, {rows}) AS n"));
    }

    /// The directory holding psql, pg_dump and pg_restore of this server's version.
    pub fn bin(&self) -> &Path {
        &self.bin
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // Fast shutdown: disconnect clients, stop cleanly, remove shared memory.
        // SAFETY: kill with a pid of our own child and a valid signal number.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGINT);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}
