//! Policy: what an environment lets effects do.

use crate::config::Environment;

use super::EffectClass;

/// Refuse `kind` where the environment's `deny` list names it, or its `allow` list
/// leaves out a primitive that notifies or writes. A read (`now`, `http_check`) changes
/// nothing, so an allow list does not need to name it; a deny list naming it still
/// refuses it, so an environment can keep a read out on purpose.
pub fn check(kind: &str, class: EffectClass, environment_name: &str, environment: &Environment) -> Result<(), String> {
    if environment.deny.iter().any(|denied| denied == kind) {
        return Err(format!("{kind} is denied in environment \"{environment_name}\" (deny list in shipctl.toml)"));
    }
    if class == EffectClass::Read {
        return Ok(());
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
        assert!(check("notify", EffectClass::Notify, "prod", &environment).is_ok());
        let refused = check("tag", EffectClass::Write, "prod", &environment).unwrap_err();
        assert!(refused.contains("allowed there: notify"), "{refused}");
        assert!(check("now", EffectClass::Read, "prod", &environment).is_ok());
        assert!(check("http_check", EffectClass::Read, "prod", &environment).is_ok(), "a read needs no allow entry");
        environment.allow = None;
        environment.deny = vec!["tag".into(), "http_check".into()];
        assert!(check("tag", EffectClass::Write, "prod", &environment).unwrap_err().contains("denied"));
        let denied = check("http_check", EffectClass::Read, "prod", &environment).unwrap_err();
        assert!(denied.contains("denied"), "a deny list keeps even a read out: {denied}");
    }
}
