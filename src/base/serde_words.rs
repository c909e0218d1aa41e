//! serde's words for types (`u32`, `a sequence`, `struct TagParams`) in the words a
//! script's author uses (`a whole number`, `an array`, `an object map`): an argument
//! error never shows a Rust type.

/// `message` from a serde deserializer, with the type words after serde's
/// `invalid type: `, `invalid value: ` and `expected ` translated; the rest (a
/// primitive's own words, quoted values) is kept as it is.
pub fn plain(message: &str) -> String {
    const MARKERS: [&str; 3] = ["invalid type: ", "invalid value: ", "expected "];
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some((index, marker)) =
        MARKERS.iter().filter_map(|marker| rest.find(marker).map(|index| (index, *marker))).min()
    {
        out.push_str(&rest[..index + marker.len()]);
        let tail = &rest[index + marker.len()..];
        let word = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
        let (phrase, consumed) = translate(&tail[..word], tail);
        out.push_str(&phrase);
        rest = &tail[consumed..];
    }
    out.push_str(rest);
    out
}

/// The phrase for the word (or words) at the start of `tail`, and how many bytes of
/// `tail` it replaces. Words that are not serde's are kept.
fn translate(word: &str, tail: &str) -> (String, usize) {
    const PHRASES: &[(&str, &str)] = &[
        ("a sequence", "an array"),
        ("sequence", "an array"),
        ("a map", "an object map"),
        ("map", "an object map"),
        ("a boolean", "true or false"),
        ("boolean", "true or false"),
        ("a borrowed string", "a string"),
        ("a character", "a one-character string"),
        ("floating point", "a number"),
        ("integer", "a whole number"),
        ("unit value", "()"),
        ("unit", "()"),
        ("option", "a value"),
        ("a string", "a string"),
        ("string", "a string"),
    ];
    if let Some(rest) = tail.strip_prefix("struct ") {
        let name = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
        return ("an object map".to_string(), "struct ".len() + name);
    }
    for (serde, phrase) in PHRASES {
        if tail.starts_with(serde) && !tail[serde.len()..].starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return (phrase.to_string(), serde.len());
        }
    }
    let phrase = match word {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number, 0 or more",
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number",
        "f32" | "f64" => "a number",
        "char" => "a one-character string",
        "bool" => "true or false",
        _ => word,
    };
    (phrase.to_string(), word.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_types_become_words() {
        assert_eq!(
            plain("invalid type: string \"x\", expected u32"),
            "invalid type: a string \"x\", expected a whole number, 0 or more"
        );
        assert_eq!(
            plain("invalid value: integer `-1`, expected u64"),
            "invalid value: a whole number `-1`, expected a whole number, 0 or more"
        );
        assert_eq!(
            plain("invalid type: sequence, expected struct TagParams"),
            "invalid type: an array, expected an object map"
        );
        assert_eq!(plain("invalid type: map, expected a string"), "invalid type: an object map, expected a string");
        assert_eq!(
            plain("invalid type: boolean `true`, expected i64"),
            "invalid type: true or false `true`, expected a whole number"
        );
        assert_eq!(plain("expected f64"), "expected a number");
        assert_eq!(
            plain("invalid type: string \"map\", expected u8"),
            "invalid type: a string \"map\", expected a whole number, 0 or more"
        );
    }

    #[test]
    fn other_words_and_values_stay() {
        assert_eq!(
            plain("unknown variant `u32x`, expected `https` or `http`"),
            "unknown variant `u32x`, expected `https` or `http`"
        );
        assert_eq!(plain("a name is a string of letters: \"-x\""), "a name is a string of letters: \"-x\"");
        assert_eq!(plain(""), "");
    }
}
