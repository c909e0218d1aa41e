//! What the source checks (`layers.rs`, `sizes.rs`) share.

use std::path::{Path, PathBuf};

/// Every `.rs` file below `directory`, sorted.
pub fn rust_files(directory: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(directory)
        .into_iter()
        .map(|entry| entry.expect("the source tree is readable").into_path())
        .filter(|path| path.is_file() && path.extension().is_some_and(|extension| extension == "rs"))
        .collect();
    files.sort();
    files
}
