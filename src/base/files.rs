//! Opening files that outside input names (a script, a module, shipctl.toml, a secret
//! file, a journal, a backup) so that nothing but a regular file is ever read.
//!
//! A check before the open (`path.is_file()`) is not enough: a FIFO put in place
//! between the check and the `open` makes the open wait for a writer forever. So the
//! file is opened non-blocking and checked through the open handle; for a regular
//! file `O_NONBLOCK` changes nothing, so the handle is used as it is.

use std::fs::File;
use std::io::{Error, ErrorKind, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// What the error of a path that is not a regular file says.
pub const NOT_REGULAR: &str = "not a regular file (a FIFO, device or directory is never read)";

/// Open `path` for reading if it is a regular file (symlinks are followed); anything
/// else is an `InvalidInput` error saying so, and the open never blocks.
pub fn open_regular(path: &Path) -> std::io::Result<File> {
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?;
    check_regular(file)
}

/// The whole of the regular file at `path`, as [`open_regular`] opens it.
pub fn read_regular_bytes(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    open_regular(path)?.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The whole of the regular file at `path` as UTF-8, as [`open_regular`] opens it.
pub fn read_regular(path: &Path) -> std::io::Result<String> {
    String::from_utf8(read_regular_bytes(path)?).map_err(|error| Error::new(ErrorKind::InvalidData, error.utf8_error()))
}

/// `file` if its handle is a regular file.
pub fn check_regular<F: AsFile>(file: F) -> std::io::Result<F> {
    if !file.is_regular()? {
        return Err(Error::new(ErrorKind::InvalidInput, NOT_REGULAR));
    }
    Ok(file)
}

/// An open handle whose type can be asked (std's and cap-std's files).
pub trait AsFile {
    fn is_regular(&self) -> std::io::Result<bool>;
}

impl AsFile for File {
    fn is_regular(&self) -> std::io::Result<bool> {
        Ok(self.metadata()?.is_file())
    }
}

impl AsFile for cap_std::fs::File {
    fn is_regular(&self) -> std::io::Result<bool> {
        Ok(self.metadata()?.is_file())
    }
}

/// Make a FIFO at `path`, for the unit tests that check nothing blocks on one.
#[cfg(test)]
pub(crate) fn mkfifo(path: &Path) {
    let name = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates the node.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_regular_files_and_follows_symlinks_to_them() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "alpha").unwrap();
        std::os::unix::fs::symlink(dir.path().join("a"), dir.path().join("link")).unwrap();
        assert_eq!(read_regular(&dir.path().join("a")).unwrap(), "alpha");
        assert_eq!(read_regular(&dir.path().join("link")).unwrap(), "alpha");
    }

    #[test]
    fn refuses_a_fifo_a_directory_and_a_device_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        mkfifo(&dir.path().join("fifo"));
        std::os::unix::fs::symlink(dir.path().join("fifo"), dir.path().join("to-fifo")).unwrap();
        for path in [dir.path().join("fifo"), dir.path().join("to-fifo"), dir.path().to_path_buf(), "/dev/zero".into()]
        {
            let error = read_regular(&path).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::InvalidInput, "{}: {error}", path.display());
            assert_eq!(error.to_string(), NOT_REGULAR);
        }
    }

    #[test]
    fn text_that_is_not_utf8_is_invalid_data() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bin"), [0xff, 0xfe, 0x00]).unwrap();
        assert_eq!(read_regular(&dir.path().join("bin")).unwrap_err().kind(), ErrorKind::InvalidData);
        assert_eq!(read_regular_bytes(&dir.path().join("bin")).unwrap(), vec![0xff, 0xfe, 0x00]);
    }
}
