//! Label selectors (`a=b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`) and field
//! selectors (`metadata.name=web`, `involvedObject.name!=x`), as list and watch
//! requests carry them.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<Requirement>);

/// Split at commas outside parentheses.
fn terms(text: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (index, character) in text.char_indices() {
        match character {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                terms.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    terms.push(&text[start..]);
    terms.into_iter().map(str::trim).filter(|term| !term.is_empty()).collect()
}

fn set_values(text: &str) -> Result<Vec<String>, String> {
    let inner = text
        .trim()
        .strip_prefix('(')
        .and_then(|rest| rest.strip_suffix(')'))
        .ok_or_else(|| format!("expected a parenthesized set of values, got {text:?}"))?;
    Ok(inner.split(',').map(|value| value.trim().to_string()).filter(|value| !value.is_empty()).collect())
}

impl LabelSelector {
    pub fn parse(text: &str) -> Result<LabelSelector, String> {
        let mut requirements = Vec::new();
        for term in terms(text) {
            let requirement = if let Some(key) = term.strip_prefix('!') {
                Requirement::NotExists(key.trim().to_string())
            } else if let Some(open) = term.find('(') {
                let head: Vec<&str> = term[..open].split_whitespace().collect();
                match head.as_slice() {
                    [key, "in"] => Requirement::In(key.to_string(), set_values(&term[open..])?),
                    [key, "notin"] => Requirement::NotIn(key.to_string(), set_values(&term[open..])?),
                    _ => return Err(format!("cannot parse label selector term {term:?}")),
                }
            } else if let Some((key, value)) = term.split_once("!=") {
                Requirement::NotEquals(key.trim().to_string(), value.trim().to_string())
            } else if let Some((key, value)) = term.split_once("==").or_else(|| term.split_once('=')) {
                Requirement::Equals(key.trim().to_string(), value.trim().to_string())
            } else if term.contains(char::is_whitespace) {
                return Err(format!("cannot parse label selector term {term:?}"));
            } else {
                Requirement::Exists(term.to_string())
            };
            requirements.push(requirement);
        }
        Ok(LabelSelector(requirements))
    }

    /// Does an object with these labels match?
    pub fn matches(&self, object: &Value) -> bool {
        let labels = object.pointer("/metadata/labels").and_then(Value::as_object);
        let label = |key: &str| labels.and_then(|labels| labels.get(key)).and_then(Value::as_str);
        self.0.iter().all(|requirement| match requirement {
            Requirement::Equals(key, value) => label(key) == Some(value.as_str()),
            Requirement::NotEquals(key, value) => label(key) != Some(value.as_str()),
            Requirement::In(key, values) => label(key).is_some_and(|found| values.iter().any(|v| v == found)),
            Requirement::NotIn(key, values) => label(key).is_none_or(|found| values.iter().all(|v| v != found)),
            Requirement::Exists(key) => label(key).is_some(),
            Requirement::NotExists(key) => label(key).is_none(),
        })
    }
}

/// A parsed field selector: equality and inequality on dotted paths.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    pub fn parse(text: &str) -> Result<FieldSelector, String> {
        let mut requirements = Vec::new();
        for term in terms(text) {
            let (path, equal, value) = if let Some((path, value)) = term.split_once("!=") {
                (path, false, value)
            } else if let Some((path, value)) = term.split_once("==").or_else(|| term.split_once('=')) {
                (path, true, value)
            } else {
                return Err(format!("field selector term {term:?} is not path=value or path!=value"));
            };
            requirements.push((path.trim().to_string(), equal, value.trim().to_string()));
        }
        Ok(FieldSelector(requirements))
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|(path, equal, expected)| {
            let pointer = format!("/{}", path.replace('.', "/"));
            let found = match object.pointer(&pointer) {
                Some(Value::String(text)) => text.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            (found == *expected) == *equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labelled(labels: Value) -> Value {
        json!({ "metadata": { "name": "x", "labels": labels } })
    }

    #[test]
    fn label_selectors() {
        let object = labelled(json!({ "owner": "helm", "name": "web", "status": "deployed" }));
        for (selector, expected) in [
            ("owner=helm,name=web", true),
            ("owner==helm", true),
            ("owner!=helm", false),
            ("status in (deployed,superseded)", true),
            ("status notin (deployed)", false),
            ("status notin (failed, pending)", true),
            ("owner", true),
            ("!owner", false),
            ("!missing", true),
            ("missing in (a)", false),
            ("missing notin (a)", true),
            ("", true),
        ] {
            assert_eq!(LabelSelector::parse(selector).unwrap().matches(&object), expected, "{selector}");
        }
        assert!(LabelSelector::parse("a in b").is_err());
    }

    #[test]
    fn field_selectors() {
        let object = json!({ "metadata": { "name": "web" }, "involvedObject": { "name": "web-1", "kind": "Pod" } });
        let selector = FieldSelector::parse("metadata.name=web,involvedObject.kind==Pod").unwrap();
        assert!(selector.matches(&object));
        assert!(!FieldSelector::parse("involvedObject.name!=web-1").unwrap().matches(&object));
        assert!(FieldSelector::parse("nonsense").is_err());
    }
}
