//! tar.gz archives of directories, with the `tar` and `flate2` crates: written,
//! read back completely (every entry and the gzip checksum) to verify, extracted.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

/// Archive the directory `source` into `file`. Symbolic links are stored as links,
/// not followed, so an archive never holds what lies outside the directory.
pub fn create(source: &Path, file: &Path) -> Result<(), String> {
    let output = File::create(file).map_err(|error| format!("cannot create {}: {error}", file.display()))?;
    let encoder = GzEncoder::new(BufWriter::new(output), Compression::default());
    let mut builder = tar::Builder::new(encoder);
    builder.follow_symlinks(false);
    builder.append_dir_all(".", source).map_err(|error| format!("cannot archive {}: {error}", source.display()))?;
    let encoder = builder.into_inner().map_err(|error| format!("cannot write {}: {error}", file.display()))?;
    let mut writer = encoder.finish().map_err(|error| format!("cannot write {}: {error}", file.display()))?;
    writer.flush().map_err(|error| format!("cannot write {}: {error}", file.display()))?;
    Ok(())
}

/// Read the archive to its end: every header and every byte of every entry, and the
/// gzip trailer's checksum. Returns the number of entries.
pub fn verify(file: &Path) -> Result<usize, String> {
    let input = File::open(file).map_err(|error| format!("cannot open {}: {error}", file.display()))?;
    let mut archive = tar::Archive::new(GzDecoder::new(BufReader::new(input)));
    let mut count = 0;
    let entries = archive.entries().map_err(|error| format!("{} is not a tar.gz archive: {error}", file.display()))?;
    for entry in entries {
        let mut entry = entry.map_err(|error| format!("{} is damaged: {error}", file.display()))?;
        std::io::copy(&mut entry, &mut std::io::sink())
            .map_err(|error| format!("{} is damaged: {error}", file.display()))?;
        count += 1;
    }
    let mut decoder = archive.into_inner();
    // Past the tar end marker: the rest of the gzip stream, which checks the CRC.
    decoder.read_to_end(&mut Vec::new()).map_err(|error| format!("{} is damaged: {error}", file.display()))?;
    Ok(count)
}

/// Extract the archive into the (new, empty) directory `into`. The `tar` crate refuses
/// entries that would land outside it.
pub fn extract(file: &Path, into: &Path) -> Result<(), String> {
    let input = File::open(file).map_err(|error| format!("cannot open {}: {error}", file.display()))?;
    let mut archive = tar::Archive::new(GzDecoder::new(BufReader::new(input)));
    archive.set_preserve_permissions(true);
    archive.set_overwrite(false);
    archive.unpack(into).map_err(|error| format!("cannot extract {} into {}: {error}", file.display(), into.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("src");
        std::fs::create_dir_all(source.join("nested")).unwrap();
        std::fs::write(source.join("a.txt"), "alpha").unwrap();
        std::fs::write(source.join("nested/b.txt"), "beta".repeat(1000)).unwrap();
        let file = dir.path().join("out.tar.gz");
        create(&source, &file).unwrap();
        assert_eq!(verify(&file).unwrap(), 4, "., a.txt, nested, nested/b.txt");
        let into = dir.path().join("restored");
        std::fs::create_dir(&into).unwrap();
        extract(&file, &into).unwrap();
        assert_eq!(std::fs::read_to_string(into.join("nested/b.txt")).unwrap(), "beta".repeat(1000));

        let mut bytes = std::fs::read(&file).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        std::fs::write(&file, &bytes).unwrap();
        assert!(verify(&file).is_err(), "a flipped byte is noticed");
        std::fs::write(&file, &bytes[..middle]).unwrap();
        assert!(verify(&file).is_err(), "a truncated archive is noticed");
    }
}
