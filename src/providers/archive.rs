//! tar.gz archives of directories, with the `tar` and `flate2` crates: written,
//! read back completely (every entry and the gzip checksum) to verify, extracted.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::time::Instant;

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

/// Why an archive could not be written or read.
#[derive(Debug, Clone, PartialEq)]
pub enum ArchiveError {
    /// The run's deadline passed mid-way; the caller removes the partial file.
    Deadline,
    /// Anything else, said for the user.
    Failed(String),
}

impl std::fmt::Display for ArchiveError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArchiveError::Deadline => formatter.write_str("the run's deadline passed"),
            ArchiveError::Failed(message) => formatter.write_str(message),
        }
    }
}

/// The error of an interrupted read (see [`Bounded`]), told apart from other I/O
/// errors by its type, not its text.
#[derive(Debug, thiserror::Error)]
#[error("the run's deadline passed")]
struct DeadlinePassed;

/// A reader that fails once `deadline` has passed, so copying one huge file stops too.
struct Bounded<R> {
    inner: R,
    deadline: Instant,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        if Instant::now() >= self.deadline {
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, DeadlinePassed));
        }
        self.inner.read(buffer)
    }
}

/// An I/O error as an [`ArchiveError`]: the deadline's own error, or `context` and the error.
fn io_error(context: impl FnOnce() -> String, error: std::io::Error) -> ArchiveError {
    let deadline = error.get_ref().is_some_and(|inner| inner.is::<DeadlinePassed>());
    if deadline { ArchiveError::Deadline } else { ArchiveError::Failed(format!("{}: {error}", context())) }
}

/// Any error once the deadline has passed is the deadline's: the `tar` crate wraps the
/// reader's error in its own words, and what stopped the work is the deadline.
fn within<T>(deadline: Instant, result: Result<T, ArchiveError>) -> Result<T, ArchiveError> {
    result.map_err(|error| if Instant::now() >= deadline { ArchiveError::Deadline } else { error })
}

fn check(deadline: Instant) -> Result<(), ArchiveError> {
    if Instant::now() >= deadline { Err(ArchiveError::Deadline) } else { Ok(()) }
}

/// Archive the directory `source` into `file`, stopping with [`ArchiveError::Deadline`]
/// once `deadline` passes (checked before every entry and on every read of a file's
/// bytes). Symbolic links are stored as links, not followed, so an archive never holds
/// what lies outside the directory.
pub fn create(source: &Path, file: &Path, deadline: Instant) -> Result<(), ArchiveError> {
    within(deadline, create_until(source, file, deadline))
}

fn create_until(source: &Path, file: &Path, deadline: Instant) -> Result<(), ArchiveError> {
    let failed = |error: std::io::Error| io_error(|| format!("cannot write {}", file.display()), error);
    let output = File::create(file).map_err(failed)?;
    let encoder = GzEncoder::new(BufWriter::new(output), Compression::default());
    let mut builder = tar::Builder::new(encoder);
    builder.follow_symlinks(false);
    for entry in walkdir::WalkDir::new(source).follow_links(false).sort_by_file_name() {
        check(deadline)?;
        let entry = entry.map_err(|error| {
            io_error(|| format!("cannot archive {}", source.display()), std::io::Error::from(error))
        })?;
        append(&mut builder, source, &entry, deadline)?;
    }
    let encoder = builder.into_inner().map_err(failed)?;
    let mut writer = encoder.finish().map_err(failed)?;
    writer.flush().map_err(failed)?;
    Ok(())
}

/// Add one entry under the name `tar::Builder::append_dir_all(".", source)` would give it.
fn append<W: Write>(
    builder: &mut tar::Builder<W>,
    source: &Path,
    entry: &walkdir::DirEntry,
    deadline: Instant,
) -> Result<(), ArchiveError> {
    let path = entry.path();
    let relative = path.strip_prefix(source).unwrap_or(path);
    let name = Path::new(".").join(relative);
    let failed = |error: std::io::Error| io_error(|| format!("cannot archive {}", path.display()), error);
    let kind = entry.file_type();
    if kind.is_dir() || kind.is_symlink() {
        // A header, no data; a link is stored as a link.
        return builder.append_path_with_name(path, &name).map_err(failed);
    }
    let metadata = entry.metadata().map_err(|error| failed(std::io::Error::from(error)))?;
    if !kind.is_file() {
        return append_special(builder, &name, &metadata).map_err(failed);
    }
    let mut header = tar::Header::new_gnu();
    header.set_metadata_in_mode(&metadata, tar::HeaderMode::Complete);
    let input = crate::base::files::open_regular(path).map_err(failed)?;
    builder.append_data(&mut header, &name, Bounded { inner: input, deadline }).map_err(failed)
}

/// A FIFO or a device as `Archive::unpack` can make it again: a header, no data. A
/// socket cannot be stored (nothing could recreate it) and is left out.
fn append_special<W: Write>(
    builder: &mut tar::Builder<W>,
    name: &Path,
    metadata: &std::fs::Metadata,
) -> std::io::Result<()> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let kind = metadata.file_type();
    let entry_type = if kind.is_fifo() {
        tar::EntryType::Fifo
    } else if kind.is_char_device() {
        tar::EntryType::Char
    } else if kind.is_block_device() {
        tar::EntryType::Block
    } else {
        return Ok(());
    };
    let mut header = tar::Header::new_gnu();
    header.set_metadata_in_mode(metadata, tar::HeaderMode::Complete);
    header.set_entry_type(entry_type);
    header.set_size(0);
    if entry_type != tar::EntryType::Fifo {
        let device = metadata.rdev();
        header.set_device_major(libc::major(device))?;
        header.set_device_minor(libc::minor(device))?;
    }
    builder.append_data(&mut header, name, std::io::empty())
}

/// Read the archive to its end: every header and every byte of every entry, and the
/// gzip trailer's checksum, stopping once `deadline` passes. Returns the number of entries.
pub fn verify(file: &Path, deadline: Instant) -> Result<usize, ArchiveError> {
    within(deadline, verify_until(file, deadline))
}

fn verify_until(file: &Path, deadline: Instant) -> Result<usize, ArchiveError> {
    let damaged = |error: std::io::Error| io_error(|| format!("{} is damaged", file.display()), error);
    let input = crate::base::files::open_regular(file)
        .map_err(|error| io_error(|| format!("cannot open {}", file.display()), error))?;
    let bounded = Bounded { inner: BufReader::new(input), deadline };
    let mut archive = tar::Archive::new(GzDecoder::new(bounded));
    let mut count = 0;
    let entries =
        archive.entries().map_err(|error| io_error(|| format!("{} is not a tar.gz archive", file.display()), error))?;
    for entry in entries {
        check(deadline)?;
        let mut entry = entry.map_err(damaged)?;
        std::io::copy(&mut entry, &mut std::io::sink()).map_err(damaged)?;
        count += 1;
    }
    let mut decoder = archive.into_inner();
    // Past the tar end marker: the rest of the gzip stream, which checks the CRC.
    decoder.read_to_end(&mut Vec::new()).map_err(damaged)?;
    Ok(count)
}

/// Extract the archive into the (new, empty) directory `into`, stopping with
/// [`ArchiveError::Deadline`] once `deadline` passes (the caller removes the partial
/// directory). The `tar` crate refuses entries that would land outside it.
pub fn extract(file: &Path, into: &Path, deadline: Instant) -> Result<(), ArchiveError> {
    within(deadline, extract_until(file, into, deadline))
}

fn extract_until(file: &Path, into: &Path, deadline: Instant) -> Result<(), ArchiveError> {
    let failed = |error: std::io::Error| {
        io_error(|| format!("cannot extract {} into {}", file.display(), into.display()), error)
    };
    let input = crate::base::files::open_regular(file).map_err(failed)?;
    let mut archive = tar::Archive::new(GzDecoder::new(Bounded { inner: BufReader::new(input), deadline }));
    archive.set_preserve_permissions(true);
    archive.set_overwrite(false);
    // Directories last, deepest first, as `Archive::unpack` does: a read-only directory
    // must not stop its own files from being written.
    let mut directories = Vec::new();
    for entry in archive.entries().map_err(failed)? {
        check(deadline)?;
        let mut entry = entry.map_err(failed)?;
        if entry.header().entry_type() == tar::EntryType::Directory {
            directories.push(entry);
        } else {
            entry.unpack_in(into).map_err(failed)?;
        }
    }
    directories.sort_by(|a, b| b.path_bytes().cmp(&a.path_bytes()));
    for mut directory in directories {
        check(deadline)?;
        directory.unpack_in(into).map_err(failed)?;
    }
    Ok(())
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
        let later = Instant::now() + std::time::Duration::from_secs(600);
        create(&source, &file, later).unwrap();
        assert_eq!(verify(&file, later).unwrap(), 4, "., a.txt, nested, nested/b.txt");
        let into = dir.path().join("restored");
        std::fs::create_dir(&into).unwrap();
        extract(&file, &into, later).unwrap();
        assert_eq!(std::fs::read_to_string(into.join("nested/b.txt")).unwrap(), "beta".repeat(1000));

        let mut bytes = std::fs::read(&file).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        std::fs::write(&file, &bytes).unwrap();
        assert!(verify(&file, later).is_err(), "a flipped byte is noticed");
        std::fs::write(&file, &bytes[..middle]).unwrap();
        assert!(verify(&file, later).is_err(), "a truncated archive is noticed");
    }

    #[test]
    fn a_passed_deadline_stops_create_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("src");
        std::fs::create_dir_all(&source).unwrap();
        std::fs::write(source.join("a.txt"), "alpha").unwrap();
        let file = dir.path().join("out.tar.gz");
        assert_eq!(create(&source, &file, Instant::now()), Err(ArchiveError::Deadline));
        let later = Instant::now() + std::time::Duration::from_secs(600);
        create(&source, &file, later).unwrap();
        assert_eq!(verify(&file, Instant::now()), Err(ArchiveError::Deadline));
        let into = dir.path().join("restored");
        std::fs::create_dir(&into).unwrap();
        assert_eq!(extract(&file, &into, Instant::now()), Err(ArchiveError::Deadline));
    }
}
