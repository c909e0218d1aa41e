//! Policy: what an environment lets effects do.

use crate::config::Environment;

/// Refuse `kind` where the environment's `allow` list leaves it out or its `deny` list
/// names it. Primitives without side effects (`now`) always pass.
pub fn check(
    kind: &str,
    has_side_effects: bool,
    environment_name: &str,
    environment: &Environment,
) -> Result<(), String> {
    if !has_side_effects {
        return Ok(());
    }
    if environment.deny.iter().any(|denied| denied == kind) {
        return Err(format!("{kind} is denied in environment \"{environment_name}\" (deny list in shipctl.toml)"));
    }
    if let Some(allowed) = &environment.allow
        && !allowed.iter().any(|allowed| allowed == kind)
    {
        return Err(format!(
            "{kind} is not allowed in environment \"{environment_name}\"; allowed there: {}",
            if allowed.is_empty() { "nothing".to_string() } else { allowed.join(", ") }
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_and_deny_lists() {
        let mut environment = Environment { allow: Some(vec!["notify".into()]), ..Environment::default() };
        assert!(check("notify", true, "prod", &environment).is_ok());
        assert!(check("tag", true, "prod", &environment).unwrap_err().contains("allowed there: notify"));
        assert!(check("now", false, "prod", &environment).is_ok());
        environment.allow = None;
        environment.deny = vec!["tag".into()];
        assert!(check("tag", true, "prod", &environment).unwrap_err().contains("denied"));
    }
}
