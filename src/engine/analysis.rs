//! What can be learned from a compiled script without running it: its literal imports,
//! the params it reads, and the argument keys of primitive calls written as object-map
//! literals. `check`, `plan` and `run` use it to refuse a typo before any effect runs.

use rhai::{AST, ASTNode, Expr, FnCallExpr, Position, Stmt};

/// A `param("name")` or `param("name", default)` call.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamUse {
    pub name: String,
    pub required: bool,
    pub position: Position,
}

/// A call `f(#{ key: ..., ... })` with a literal map.
#[derive(Debug, Clone, PartialEq)]
pub struct LiteralCall {
    pub function: String,
    pub keys: Vec<(String, Position)>,
    /// The keys whose value is a literal (a string, a number, a bool), with it.
    pub literals: Vec<(String, serde_json::Value, Position)>,
    pub position: Position,
}

/// Facts about one script or module.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Analysis {
    /// `import "<path>"` with a literal path.
    pub imports: Vec<(String, Position)>,
    pub params: Vec<ParamUse>,
    /// Some `param` call names its param with a computed value.
    pub computed_params: bool,
    pub calls: Vec<LiteralCall>,
    /// Every plain call `name(...)` (no namespace, no operator), with where it is.
    pub functions: Vec<(String, Position)>,
    /// Names bound as variables or parameters: `f(x)` may call a function pointer.
    pub variables: std::collections::BTreeSet<String>,
}

/// Walk `ast`, function bodies included.
pub fn analyze(ast: &AST) -> Analysis {
    let mut analysis = Analysis::default();
    ast.walk(&mut |path: &[ASTNode]| {
        match path.last() {
            Some(ASTNode::Stmt(Stmt::Import(import, _))) => {
                if let Expr::StringConstant(text, position) = &import.0 {
                    analysis.imports.push((text.to_string(), *position));
                }
            }
            Some(ASTNode::Stmt(Stmt::FnCall(call, position))) | Some(ASTNode::Expr(Expr::FnCall(call, position))) => {
                record_call(&mut analysis, call, *position);
            }
            Some(ASTNode::Stmt(Stmt::Var(var, _, _))) => {
                analysis.variables.insert(var.0.name.to_string());
            }
            Some(ASTNode::Expr(Expr::Variable(var, _, _))) => {
                analysis.variables.insert(var.1.to_string());
            }
            _ => {}
        }
        true
    });
    for function in ast.iter_functions() {
        analysis.variables.extend(function.params.iter().map(|param| param.to_string()));
    }
    analysis.calls.dedup();
    analysis.params.dedup();
    analysis
}

fn record_call(analysis: &mut Analysis, call: &FnCallExpr, position: Position) {
    if !call.namespace.is_empty() {
        return;
    }
    let name = call.name.as_str();
    let identifier = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if call.op_token.is_some() || !identifier {
        return;
    }
    analysis.functions.push((name.to_string(), position));
    if call.args.is_empty() {
        analysis.calls.push(LiteralCall {
            function: name.to_string(),
            keys: Vec::new(),
            literals: Vec::new(),
            position,
        });
        return;
    }
    if name == "param" && (1..=2).contains(&call.args.len()) {
        match &call.args[0] {
            Expr::StringConstant(text, _) => {
                analysis.params.push(ParamUse { name: text.to_string(), required: call.args.len() == 1, position })
            }
            _ => analysis.computed_params = true,
        }
        return;
    }
    if call.args.len() == 1
        && let Expr::Map(map, _) = &call.args[0]
    {
        let keys = map.0.iter().map(|(ident, _)| (ident.name.to_string(), ident.pos)).collect();
        let literals = map
            .0
            .iter()
            .filter_map(|(ident, value)| Some((ident.name.to_string(), literal(value)?, ident.pos)))
            .collect();
        analysis.calls.push(LiteralCall { function: name.to_string(), keys, literals, position });
    }
}

/// The value of a constant expression, as the gate would receive it.
fn literal(expr: &Expr) -> Option<serde_json::Value> {
    match expr {
        Expr::StringConstant(text, _) => Some(serde_json::Value::from(text.as_str())),
        Expr::IntegerConstant(number, _) => Some(serde_json::Value::from(*number)),
        Expr::BoolConstant(value, _) => Some(serde_json::Value::from(*value)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_imports_params_and_literal_calls() {
        let engine = rhai::Engine::new_raw();
        let ast = engine
            .compile(
                "import \"std/release\" as r;\nlet v = param(\"version\");\nlet c = param(\"channel\", \"x\");\n\
                 fn f() { tag(#{ repo: \"a\", nmae: v }) }\nnotify(#{ channel: c });",
            )
            .unwrap();
        let analysis = analyze(&ast);
        assert_eq!(analysis.imports.len(), 1);
        assert_eq!(analysis.imports[0].0, "std/release");
        let params: Vec<(&str, bool)> = analysis.params.iter().map(|p| (p.name.as_str(), p.required)).collect();
        assert_eq!(params, vec![("version", true), ("channel", false)]);
        let tag = analysis.calls.iter().find(|call| call.function == "tag").unwrap();
        assert_eq!(tag.keys.iter().map(|(key, _)| key.as_str()).collect::<Vec<_>>(), vec!["repo", "nmae"]);
        assert_eq!(tag.keys[1].1.line(), Some(4));
        assert_eq!(tag.literals.len(), 1, "v is not a literal");
        assert_eq!((tag.literals[0].0.as_str(), &tag.literals[0].1), ("repo", &serde_json::json!("a")));
        assert!(analysis.calls.iter().any(|call| call.function == "notify"));
    }
}
