//! `shipctl completions <shell>` and `shipctl man`: generated from the same clap
//! definition that parses the arguments, so they never drift from it.

use std::path::Path;

use clap::CommandFactory;

use super::{Cli, CompletionsArgs, ManArgs, output};
use crate::exit_codes;

/// Print the completion script for a shell on stdout.
pub fn completions(args: CompletionsArgs) -> i32 {
    // Into a buffer first: clap_complete panics when the reader of a pipe has gone.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "shipctl", &mut script);
    output::out(&String::from_utf8_lossy(&script));
    exit_codes::SUCCESS
}

/// Print the man page on stdout, or write one page per command into a directory.
pub fn man(args: ManArgs) -> i32 {
    let result = match &args.dir {
        Some(dir) => {
            write_pages(dir).map(|count| output::err(&format!("wrote {count} man pages to {}\n", dir.display())))
        }
        None => render().map(|page| output::out(&page)),
    };
    match result {
        Ok(()) => exit_codes::SUCCESS,
        Err(error) => {
            output::err(&format!("error: cannot write the man page: {error}\n"));
            exit_codes::INTERNAL
        }
    }
}

fn render() -> std::io::Result<String> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut page)?;
    Ok(String::from_utf8_lossy(&page).into_owned())
}

/// `shipctl.1` and `shipctl-<command>.1` for each subcommand, in `dir` (created).
fn write_pages(dir: &Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(Cli::command(), dir)?;
    let pages = std::fs::read_dir(dir)?.filter_map(Result::ok);
    Ok(pages.filter(|entry| entry.path().extension().is_some_and(|ext| ext == "1")).count())
}
