//! `plan --refresh` against systems some of which cannot be reached: the plan goes on,
//! each probe that failed shows `unknown (why)` under its effect, and what the others
//! learned is in the text output.

use std::net::TcpListener;

use crate::kube_support::{UNREACHABLE_KUBECONFIG, helm_create};
use crate::support::{Workspace, git_repository};

#[test]
fn a_refreshed_plan_goes_on_past_what_it_cannot_reach() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let workspace = Workspace::new();
    let head = git_repository(&workspace.path().join("repos/app")).head().unwrap().peel_to_commit().unwrap().id();
    workspace.write("files/a.txt", "ab");
    workspace.write("kube/gone.yaml", UNREACHABLE_KUBECONFIG);
    helm_create(&workspace.path().join("charts"), "site");
    workspace.config(
        "[repos.app]\npath = \"repos/app\"\n\n[environments.stage]\nkubeconfig = \"kube/gone.yaml\"\nnamespace = \"demo\"\n",
    );
    workspace.write(
        "release.rhai",
        &format!(
            "tag(#{{ repo: \"app\", name: \"1.0.0\", message: \"1.0.0\" }});\n\
             promote_image(#{{ from: \"127.0.0.1:{closed}/web:1\", to: \"127.0.0.1:{closed}/web:production\" }});\n\
             helm_upgrade(#{{ release: \"site\", chart: \"charts/site\" }});\n\
             backup(#{{ files: \"files\" }});\n"
        ),
    );
    let plan = workspace.shipctl(&["plan", "release.rhai", "-e", "stage", "--refresh"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    let text = &plan.stdout;
    let short: String = head.to_string().chars().take(12).collect();
    assert!(text.contains(&format!("new tag on {short}")), "the tag's probe: {text}");
    assert!(
        text.contains(&format!("unknown (cannot reach registry 127.0.0.1:{closed}: connection refused)")),
        "the registry's probe: {text}"
    );
    let helm = text.lines().skip_while(|line| !line.contains("helm_upgrade")).nth(1).unwrap_or_default();
    assert!(helm.trim_start().starts_with("unknown ("), "the cluster's probe: {text}");
    assert!(text.contains("2 bytes now"), "the directory's size: {text}");
    assert!(text.contains("4 effects: 4 write"), "{text}");
}
