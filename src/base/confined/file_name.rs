//! Names that become one component of a file name.

use std::path::Path;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Every byte except ASCII letters, digits, `-` and `_` is percent-encoded: no `/`, no
/// `.` (so no `..` and no hidden file), no `%` left raw (so encoding is one-to-one).
const FILE_NAME_SET: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_');

/// `name` as one component of a file name: percent-encoded, one-to-one, never empty.
/// `production` stays `production`; `../x` becomes `%2E%2E%2Fx`.
pub fn encode_file_name(name: &str) -> String {
    if name.is_empty() {
        // No encoding of a non-empty name is a lone `%`.
        return "%".to_string();
    }
    utf8_percent_encode(name, FILE_NAME_SET).to_string()
}

/// Is `name` one plain file name (no separator, not `.`/`..`, not hidden, no NUL)?
/// Names read back from disk (a record's data file) are checked with this before use.
pub fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && Path::new(name).components().count() == 1
}
