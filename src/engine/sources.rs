//! The text of every script and module a run loaded, by the name errors use.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// Shared between the resolver (which adds modules as they load) and error rendering.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Rc<RefCell<BTreeMap<String, Rc<str>>>>,
}

impl SourceMap {
    pub fn insert(&self, name: &str, text: Rc<str>) {
        self.files.borrow_mut().insert(name.to_string(), text);
    }

    pub fn get(&self, name: &str) -> Option<Rc<str>> {
        self.files.borrow().get(name).cloned()
    }

    /// A copy that can leave the script thread.
    pub fn snapshot(&self) -> Sources {
        Sources(self.files.borrow().iter().map(|(name, text)| (name.clone(), text.to_string())).collect())
    }
}

/// The texts of a finished run's scripts, for rendering its errors.
#[derive(Debug, Clone, Default)]
pub struct Sources(pub BTreeMap<String, String>);

impl Sources {
    /// Line `line` (1-based) of `file`.
    pub fn line(&self, file: &str, line: usize) -> Option<&str> {
        self.0.get(file)?.lines().nth(line.checked_sub(1)?)
    }
}
