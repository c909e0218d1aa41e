//! The command line: one file per subcommand. Each parses nothing itself (clap does),
//! calls the library, prints through [`output`], and returns an exit code from
//! [`crate::exit_codes`].

mod backups;
mod check;
mod completions;
mod definitions;
mod demo;
pub mod diagnostic;
mod docs;
mod events;
mod export;
mod github;
mod history;
mod inputs;
pub mod output;
mod replay;
mod run;
mod run_ref;
mod test;
mod trace;
mod waiting;
mod watch;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::exit_codes;

/// Run release procedures written as Rhai scripts: plan them, run them, journal every
/// effect.
#[derive(Debug, Parser)]
#[command(name = "shipctl", version = crate::run::provenance::SHIPCTL_VERSION, about, after_help = exit_codes::TABLE)]
pub struct Cli {
    /// shipctl's own log events on stderr (-v debug: effects, programs, HTTP requests; -vv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a release script for real, journaling every effect.
    Run(RunArgs),
    /// Show what a script would do, effect by effect, without doing any of it.
    Plan(PlanArgs),
    /// Run a script against a recorded run's results and report where it would behave differently.
    Replay(ReplayArgs),
    /// Continue a failed or killed run without repeating its finished effects.
    Resume(ResumeArgs),
    /// Plan a script again whenever it, a module it imports or shipctl.toml changes.
    Watch(WatchArgs),
    /// Run the scripts' own tests (*.test.rhai) with mocked primitives.
    Test(TestArgs),
    /// Compile scripts and every module they import; report all errors.
    Check(CheckArgs),
    /// List recorded runs.
    History(HistoryArgs),
    /// List the backups in the backup stores, with their verification state.
    Backups(BackupsArgs),
    /// Document the primitives and builtins scripts can call.
    Docs(DocsArgs),
    /// Run the bundled example release in a throwaway workspace, then plan its production release.
    Demo(DemoArgs),
    /// Write .d.rhai definition files of every primitive, builtin and std module, for editors.
    Definitions(DefinitionsArgs),
    /// Print the shell completion script for bash, zsh, fish, elvish or powershell.
    Completions(CompletionsArgs),
    /// Print the man page (roff), or write one page per command into a directory.
    Man(ManArgs),
}

/// Arguments shared by `run` and `plan`.
#[derive(Debug, Args)]
pub struct ScriptArgs {
    /// The release script.
    pub script: PathBuf,
    /// The environment: a [environments.<name>] of shipctl.toml, or `local`.
    #[arg(short, long, env = "SHIPCTL_ENV", default_value = crate::config::LOCAL_ENVIRONMENT)]
    pub env: String,
    /// A param for the script, read with param("name"). Repeatable.
    #[arg(short = 's', long = "set", value_name = "NAME=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String)>,
    /// Output for people, or JSON events for programs (one a line on stdout; see docs/json-output.md).
    #[arg(short, long, value_enum, env = "SHIPCTL_OUTPUT", default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// `--format`: how errors are reported to a CI system.
#[derive(Debug, Args)]
pub struct FormatArgs {
    /// `github`: also report errors and failed tests as GitHub Actions annotations and append a Markdown summary to $GITHUB_STEP_SUMMARY (the default when GITHUB_ACTIONS=true).
    #[arg(long, value_enum, env = "SHIPCTL_FORMAT")]
    pub format: Option<CiFormat>,
}

impl FormatArgs {
    /// Whether to write GitHub workflow commands: asked for, or running in GitHub Actions.
    pub fn github(&self) -> bool {
        match self.format {
            Some(format) => format == CiFormat::Github,
            None => std::env::var("GITHUB_ACTIONS").is_ok_and(|value| value == "true"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CiFormat {
    Text,
    Github,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub script: ScriptArgs,
    /// Who approved this run (for `approve` in protected environments), when not asked at the terminal.
    #[arg(long, value_name = "NAME", env = "SHIPCTL_APPROVED_BY")]
    pub approved_by: Option<String>,
    #[command(flatten)]
    pub kube: run::KubeArgs,
    #[command(flatten)]
    pub format: FormatArgs,
    #[command(flatten)]
    pub progress: waiting::ProgressArgs,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub script: ScriptArgs,
    /// Ask live systems read-only questions (does the tag exist, which commit is HEAD).
    #[arg(long)]
    pub refresh: bool,
    /// Keep a journal of the plan too.
    #[arg(long)]
    pub journal: bool,
    #[command(flatten)]
    pub kube: run::KubeArgs,
    #[command(flatten)]
    pub format: FormatArgs,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// A run id as `history` prints it (or a unique prefix of one), or a journal's path (ending in .jsonl).
    pub journal: PathBuf,
    /// A directory inside the scripts root, whose journals a run id is looked up in (default: the current directory).
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
    /// Replay this script instead of the one the journal names (needed when that one changed).
    #[arg(long)]
    pub script: Option<PathBuf>,
    /// Output for people, or JSON events for programs (one a line on stdout; see docs/json-output.md).
    #[arg(short, long, value_enum, env = "SHIPCTL_OUTPUT", default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The failed or killed run: its id as `history` prints it (or a unique prefix of one), or its journal's path.
    pub journal: PathBuf,
    /// A directory inside the scripts root, whose journals a run id is looked up in (default: the current directory).
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
    /// Perform again a write that was started but never finished (check first whether it took effect); an unfinished read or notification is performed again without it.
    #[arg(long)]
    pub retry_unfinished: bool,
    /// Resume although the script changed; its finished part must still ask for the same effects.
    #[arg(long)]
    pub allow_changed_script: bool,
    /// Who approved the rest of the run (for `approve` in protected environments).
    #[arg(long, value_name = "NAME", env = "SHIPCTL_APPROVED_BY")]
    pub approved_by: Option<String>,
    #[command(flatten)]
    pub kube: run::KubeArgs,
    #[command(flatten)]
    pub progress: waiting::ProgressArgs,
    /// Output for people, or JSON events for programs (one a line on stdout; see docs/json-output.md).
    #[arg(short, long, value_enum, env = "SHIPCTL_OUTPUT", default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub script: ScriptArgs,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Test files or directories (default: every *.test.rhai under the scripts root).
    pub paths: Vec<PathBuf>,
    /// Also write the results as JUnit XML to this file.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Run only the tests whose name contains this text.
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,
    #[command(flatten)]
    pub format: FormatArgs,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Scripts or directories (default: every .rhai under the scripts root).
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub format: FormatArgs,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only runs in this environment.
    #[arg(short, long)]
    pub env: Option<String>,
    /// At most this many runs, newest first.
    #[arg(short = 'n', long, default_value_t = 20)]
    pub limit: usize,
    /// A directory inside the scripts root (default: the current directory).
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Copy run RUN's journal (an id as listed, a unique prefix, or a path) into DIR inside the project, its secrets redacted.
    #[arg(long, num_args = 2, value_names = ["RUN", "DIR"])]
    pub export: Option<Vec<PathBuf>>,
    /// With --export: overwrite a journal already in DIR.
    #[arg(long, requires = "export")]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct BackupsArgs {
    /// Only backups made in this environment (from its backup store).
    #[arg(short, long)]
    pub env: Option<String>,
    /// Recompute every backup's sha256 (reads every byte).
    #[arg(long)]
    pub verify: bool,
    /// A directory inside the scripts root (default: the current directory).
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct DocsArgs {
    /// A primitive or builtin (or `config`); without one, the list.
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to create the workspace (default: a new temporary directory, kept).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DefinitionsArgs {
    /// Where to write them (created; default: `definitions`).
    #[arg(default_value = "definitions")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell, e.g. `shipctl completions bash > /etc/bash_completion.d/shipctl`.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write shipctl.1 and shipctl-<command>.1 into this directory instead of printing shipctl.1.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

fn parse_param(text: &str) -> Result<(String, String), String> {
    let (name, value) = text.split_once('=').ok_or_else(|| format!("expected NAME=VALUE, got {text:?}"))?;
    let name = name.trim();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.') {
        return Err(format!("{name:?} is not a param name (letters, digits, _ - .)"));
    }
    Ok((name.to_string(), value.to_string()))
}

/// Parse `args`, run the command, return the exit code.
pub fn main(args: impl IntoIterator<Item = OsString>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return match error.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => exit_codes::SUCCESS,
                _ => exit_codes::USAGE,
            };
        }
    };
    init_tracing(cli.verbose);
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Plan(args) => run::plan(args),
        Command::Replay(args) => replay::replay(args),
        Command::Resume(args) => replay::resume(args),
        Command::Watch(args) => watch::watch_command(args),
        Command::Test(args) => test::test(args),
        Command::Check(args) => check::check(args),
        Command::History(args) => history::history(args),
        Command::Backups(args) => backups::backups(args),
        Command::Docs(args) => docs::docs(args),
        Command::Demo(args) => demo::demo(args),
        Command::Definitions(args) => definitions::definitions(args),
        Command::Completions(args) => completions::completions(args),
        Command::Man(args) => completions::man(args),
    }
}

fn init_tracing(verbose: u8) {
    // Dependencies' events (hyper, rustls, kube) stay out unless RUST_LOG asks for them.
    let default = match verbose {
        0 => "warn",
        1 => "warn,shipctl=debug",
        _ => "warn,shipctl=trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(output::stderr_color())
        .try_init();
}
