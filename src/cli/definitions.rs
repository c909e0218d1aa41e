//! `shipctl definitions [dir]`: `.d.rhai` files for the Rhai language server.

use std::path::Path;

use crate::exit_codes;

use super::{DefinitionsArgs, output};

/// Write the definition files into `args.dir`.
pub fn definitions(args: DefinitionsArgs) -> i32 {
    let registry = crate::primitives::registry();
    let builtins: Vec<(&str, &str)> = crate::engine::BUILTINS.iter().chain(crate::testing::BUILTINS).copied().collect();
    let files = crate::engine::definitions::definitions(&registry, &builtins);
    match write(&args.dir, &files) {
        Ok(()) => {
            for (name, _) in &files {
                output::outln(&args.dir.join(name).display().to_string());
            }
            exit_codes::SUCCESS
        }
        Err(error) => {
            output::err(&format!("error: cannot write the definitions to {}: {error}\n", args.dir.display()));
            exit_codes::INTERNAL
        }
    }
}

/// Write each file, refusing to write through a symlink where a file is expected.
fn write(dir: &Path, files: &[(String, String)]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, text) in files {
        let path = dir.join(name);
        if std::fs::symlink_metadata(&path).is_ok_and(|metadata| !metadata.file_type().is_file()) {
            return Err(std::io::Error::other(format!("{} exists and is not a regular file", path.display())));
        }
        std::fs::write(path, text)?;
    }
    Ok(())
}
