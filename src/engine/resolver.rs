//! Imports. `import "std/<name>"` loads the embedded stdlib; any other import is a file
//! relative to the importing script that must stay inside the scripts root: `..` that
//! leaves it, absolute paths and symlinks pointing out are refused. Import cycles are
//! refused by name before they can overflow the stack.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use rhai::module_resolvers::ModuleResolver;
use rhai::{AST, Engine, EvalAltResult, Module, Position, Scope, Shared};

type SharedModule = Shared<Module>;

use super::sources::SourceMap;
use super::stdlib;

/// Prefix of stdlib imports and of their source names.
pub const STD_PREFIX: &str = "std/";

/// The one resolver of a run.
pub struct ScriptResolver {
    root: PathBuf,
    sources: SourceMap,
    compiled: RefCell<BTreeMap<String, AST>>,
    cache: RefCell<HashMap<String, SharedModule>>,
    loading: RefCell<Vec<String>>,
    /// Modules one run may load, nested imports included (Rhai counts per module).
    max_modules: usize,
    /// The run's budget: passing `max_modules` stops the run, even inside `try`.
    budget: Option<Rc<super::Budget>>,
}

/// Where an import leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `std/<name>`.
    Std(String),
    /// A file: its source name (relative to the root) and its absolute path.
    File { name: String, path: PathBuf },
}

impl Target {
    /// The name the module's errors carry.
    pub fn name(&self) -> &str {
        match self {
            Target::Std(name) | Target::File { name, .. } => name,
        }
    }
}

impl ScriptResolver {
    /// A resolver for the scripts under `root` (canonicalized here). `compiled` holds
    /// modules the preflight already compiled, by source name.
    pub fn new(root: &Path, sources: SourceMap, compiled: BTreeMap<String, AST>) -> Self {
        let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
        ScriptResolver {
            root,
            sources,
            compiled: RefCell::new(compiled),
            cache: RefCell::default(),
            loading: RefCell::default(),
            max_modules: usize::MAX,
            budget: None,
        }
    }

    /// Refuse to load more than `max` modules in all, however they nest.
    pub fn with_max_modules(mut self, max: usize) -> Self {
        self.max_modules = max;
        self
    }

    /// Count modules against the run's `budget`: once refused, the run stops.
    pub fn with_budget(mut self, budget: Rc<super::Budget>) -> Self {
        self.max_modules = budget.limits().max_modules;
        self.budget = Some(budget);
        self
    }

    /// Resolve `path` imported from the script named `importer` (a source name).
    pub fn locate(&self, importer: Option<&str>, path: &str) -> Result<Target, String> {
        locate(&self.root, importer, path)
    }

    fn load(&self, engine: &Engine, target: &Target, position: Position) -> Result<SharedModule, Box<EvalAltResult>> {
        let name = target.name().to_string();
        if let Some(module) = self.cache.borrow().get(&name) {
            return Ok(module.clone());
        }
        if self.loading.borrow().contains(&name) {
            let mut chain = self.loading.borrow().clone();
            chain.push(name.clone());
            return Err(refused(&name, format!("import cycle: {}", chain.join(" -> ")), position));
        }
        // Each module is evaluated in a fresh state where Rhai counts imports from 0: a
        // chain of imports is counted here, over the whole run.
        if self.cache.borrow().len() + self.loading.borrow().len() >= self.max_modules {
            let Some(budget) = &self.budget else {
                return Err(Box::new(EvalAltResult::ErrorTooManyModules(position)));
            };
            let reason = budget
                .trip(format!(
                    "the script loads more than {} modules, nested imports included; raise [limits] max_modules \
                     if it really needs more",
                    self.max_modules
                ))
                .unwrap_or_default();
            return Err(Box::new(EvalAltResult::ErrorTerminated(reason.into(), position)));
        }
        if super::budget::stack_exhausted() {
            return Err(Box::new(EvalAltResult::ErrorTerminated(super::budget::stack_message().into(), position)));
        }
        let ast = match self.compiled.borrow_mut().remove(&name) {
            Some(ast) => ast,
            None => self.compile(engine, target, position)?,
        };
        self.loading.borrow_mut().push(name.clone());
        let module = Module::eval_ast_as_new(Scope::new(), &ast, engine);
        self.loading.borrow_mut().pop();
        let module: SharedModule =
            module.map_err(|error| Box::new(EvalAltResult::ErrorInModule(name.clone(), error, position)))?.into();
        self.cache.borrow_mut().insert(name, module.clone());
        Ok(module)
    }

    fn compile(&self, engine: &Engine, target: &Target, position: Position) -> Result<AST, Box<EvalAltResult>> {
        let name = target.name().to_string();
        let text: Rc<str> = match target {
            Target::Std(name) => {
                let module = name.strip_prefix(STD_PREFIX).unwrap_or(name);
                let known: Vec<&str> = stdlib::MODULES.iter().map(|(module, _)| *module).collect();
                let source = stdlib::get(module).ok_or_else(|| {
                    refused(
                        name,
                        format!("no stdlib module \"{name}\"; the stdlib has: {}", known.join(", ")),
                        position,
                    )
                })?;
                source.into()
            }
            Target::File { path, .. } => crate::base::files::read_regular(path)
                .map_err(|error| refused(&name, format!("cannot read module {}: {error}", path.display()), position))?
                .into(),
        };
        self.sources.insert(&name, Rc::clone(&text));
        let mut ast = engine
            .compile(&*text)
            .map_err(|error| Box::new(EvalAltResult::ErrorInModule(name.clone(), Box::new(error.into()), position)))?;
        ast.set_source(name.as_str());
        Ok(ast)
    }
}

impl ModuleResolver for ScriptResolver {
    fn resolve(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        position: Position,
    ) -> Result<SharedModule, Box<EvalAltResult>> {
        let target = self.locate(source, path).map_err(|message| refused(path, message, position))?;
        self.load(engine, &target, position)
    }
}

/// An import that cannot be served: the error points at the import statement.
fn refused(path: &str, message: String, position: Position) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorInModule(
        path.to_string(),
        Box::new(EvalAltResult::ErrorRuntime(message.into(), Position::NONE)),
        position,
    ))
}

/// The resolution rules, apart from loading (also used by `check`).
pub fn locate(root: &Path, importer: Option<&str>, path: &str) -> Result<Target, String> {
    if path.is_empty() {
        return Err("empty import path".to_string());
    }
    if let Some(rest) = path.strip_prefix(STD_PREFIX) {
        return Ok(Target::Std(format!("{STD_PREFIX}{}", rest.strip_suffix(".rhai").unwrap_or(rest))));
    }
    if Path::new(path).is_absolute() || path.starts_with('~') {
        return Err(format!(
            "import \"{path}\" is an absolute path; scripts import files relative to themselves, inside the scripts root {}",
            root.display()
        ));
    }
    let with_extension = if Path::new(path).extension().is_some() { path.to_string() } else { format!("{path}.rhai") };
    // Imports from the stdlib stay in the stdlib.
    if let Some(importer) = importer.filter(|importer| importer.starts_with(STD_PREFIX)) {
        let directory = Path::new(importer).parent().unwrap_or(Path::new("std"));
        let joined = normalize(&directory.join(path))
            .filter(|joined| joined.starts_with("std"))
            .ok_or_else(|| format!("import \"{path}\" from {importer} leaves the stdlib"))?;
        return Ok(Target::Std(joined.to_string_lossy().replace('\\', "/")));
    }
    let directory = importer.and_then(|importer| Path::new(importer).parent()).unwrap_or(Path::new(""));
    let relative = normalize(&directory.join(&with_extension)).ok_or_else(|| {
        format!("import \"{path}\" leaves the scripts root {}; modules must live inside it", root.display())
    })?;
    let lexical = root.join(&relative);
    let canonical = lexical
        .canonicalize()
        .map_err(|_| format!("module not found: import \"{path}\" looked for {}", relative.display()))?;
    if !canonical.starts_with(root) {
        return Err(format!(
            "import \"{path}\" resolves to {}, outside the scripts root {} (through a symlink); modules must live inside it",
            canonical.display(),
            root.display()
        ));
    }
    // Before anything reads it: a secret's file compiled as a script would be quoted
    // by its syntax error, and a `try` could send that error out.
    crate::config::refuse_secret_file(root, &canonical).map_err(|message| format!("import \"{path}\": {message}"))?;
    let name = canonical.strip_prefix(root).unwrap_or(&canonical).to_string_lossy().replace('\\', "/");
    Ok(Target::File { name, path: canonical })
}

/// Resolve `.` and `..` lexically; `None` if the path climbs above its start.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdlib_and_relative_imports() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("scripts/common")).unwrap();
        std::fs::write(root.join("scripts/common/notify.rhai"), "").unwrap();
        assert_eq!(
            locate(&root, Some("scripts/cdc/release.rhai"), "std/release").unwrap(),
            Target::Std("std/release".into())
        );
        let target = locate(&root, Some("scripts/cdc/release.rhai"), "../common/notify").unwrap();
        assert_eq!(target.name(), "scripts/common/notify.rhai");
        let escape = locate(&root, Some("release.rhai"), "../outside.rhai").unwrap_err();
        assert!(escape.contains("leaves the scripts root"), "{escape}");
        let absolute = locate(&root, Some("release.rhai"), "/etc/passwd").unwrap_err();
        assert!(absolute.contains("absolute path"), "{absolute}");
        let missing = locate(&root, Some("release.rhai"), "nope").unwrap_err();
        assert!(missing.contains("module not found"), "{missing}");
        assert!(locate(&root, Some("std/release"), "../../x").unwrap_err().contains("leaves the stdlib"));
    }
}
