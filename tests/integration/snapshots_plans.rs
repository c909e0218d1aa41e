//! What `shipctl plan` prints for each bundled release, in each environment it is
//! released to (and `local`): pinned, so a change to a script or to `std/release` that
//! alters a plan shows up in review as a snapshot diff.

use std::path::Path;
use std::process::Command;

use crate::bundled::RELEASES;

/// The production plan of Orders reads the clock (`now()`) to tell whether it runs in
/// the low-traffic hours, and says so in the approval and the stakeholders' notice. The
/// two texts a plan can show, each cut to the plan's column width, become one marker.
const CLOCK_DEPENDENT: &[(&str, &str)] = &[
    ("production OUTSIDE the low-traffic hours (…", "production[ low-traffic hours notice …]"),
    ("production. Pull requests merged, tickets cl…", "production[ low-traffic hours notice …]"),
    ("goes to production now OUTSIDE the low-traffi…", "goes to production now[ low-traffic hours notice …]"),
    ("goes to production now.\"", "goes to production now[ low-traffic hours notice …]\""),
];

fn normalise(text: &str) -> String {
    CLOCK_DEPENDENT.iter().fold(text.to_string(), |text, (from, to)| text.replace(from, to))
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
