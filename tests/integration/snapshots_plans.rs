//! What `shipctl plan` prints for each bundled release, in each environment it is
//! released to (and `local`): pinned, so a change to a script or to `std/release` that
//! alters a plan shows up in review as a snapshot diff.

use std::path::Path;
use std::process::Command;

use crate::bundled::RELEASES;

/// The production plan of Orders reads the clock (`now()`) to tell whether it runs in
/// the low-traffic hours, and says so in the approval's reason and the stakeholders'
/// notice: what follows these openings of the two values depends on the hour the test
/// runs at, so it becomes one marker (up to the end of the value, cut or not).
const CLOCK_DEPENDENT: &[&str] = &["reason=\"Orders 3.8.0 to production", "text=\"Orders 3.8.0 goes to production now"];

fn normalise(text: &str) -> String {
    text.lines()
        .map(|line| CLOCK_DEPENDENT.iter().fold(line.to_string(), |line, opening| mark(&line, opening)) + "\n")
        .collect()
}

/// `line` with the rest of the value that starts with `opening` replaced by a marker.
fn mark(line: &str, opening: &str) -> String {
    let Some(start) = line.find(opening).map(|at| at + opening.len()) else {
        return line.to_string();
    };
    let rest = &line[start..];
    let end = rest.find(['…', '"']).map(|at| at + rest[at..].chars().next().map_or(0, char::len_utf8));
    format!("{}[low-traffic hours notice]{}", &line[..start], &rest[end.unwrap_or(rest.len())..])
}

fn plan_text(product: &str, environment: &str, params: &[&str]) -> String {
    let script = format!("scripts/{product}/release.rhai");
    let mut args = vec!["plan", script.as_str(), "--env", environment];
    for param in params {
        args.extend(["--set", param]);
    }
    let output = Command::new(env!("CARGO_BIN_EXE_shipctl"))
        .args(&args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    normalise(&String::from_utf8_lossy(&output.stdout))
}

#[test]
fn every_bundled_release_plans_as_pinned() {
    for (product, environments, params) in RELEASES {
        for environment in *environments {
            insta::assert_snapshot!(format!("{product}_{environment}"), plan_text(product, environment, params));
        }
    }
}

#[test]
fn the_low_traffic_notice_is_marked_at_any_hour() {
    let at_night = "   2  approve       reason=\"Orders 3.8.0 to production. Pull requests merged, tickets …\n\
                    \x20  7  notify        text=\"Orders 3.8.0 goes to production now.\"\n";
    let at_midday = "   2  approve       reason=\"Orders 3.8.0 to production OUTSIDE the low-traffic hours (…\n\
                     \x20  7  notify        text=\"Orders 3.8.0 goes to production now OUTSIDE the low-traffi…\n";
    assert_eq!(normalise(at_night), normalise(at_midday));
    assert_eq!(
        normalise(at_night),
        "   2  approve       reason=\"Orders 3.8.0 to production[low-traffic hours notice]\n\
         \x20  7  notify        text=\"Orders 3.8.0 goes to production now[low-traffic hours notice]\n"
    );
}
