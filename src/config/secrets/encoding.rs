//! How a secret is spelled where a server may echo it: base64 (at any offset inside a
//! longer encoded text), percent-encoded, JSON-escaped. Byte-level matching only; which
//! forms are matched at all is decided in the parent module.

pub(super) const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
pub(super) const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64 without padding.
pub(super) fn base64(bytes: &[u8], alphabet: &[u8; 64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let group = (u32::from(chunk[0]) << 16)
            | (u32::from(chunk.get(1).copied().unwrap_or(0)) << 8)
            | u32::from(chunk.get(2).copied().unwrap_or(0));
        let chars = chunk.len() + 1;
        for index in 0..chars {
            out.push(alphabet[((group >> (18 - 6 * index)) & 0x3f) as usize]);
        }
    }
    out
}

/// The characters of base64 that depend on `secret` alone, for each of the three
/// offsets it can have inside a longer encoded text (`user:password`, a JSON body):
/// whatever surrounds it, an encoding of text holding the secret holds one of these.
pub(super) fn base64_cores(secret: &[u8]) -> Vec<Vec<u8>> {
    let mut cores = Vec::new();
    for offset in 0..3usize {
        let mut padded = vec![0u8; offset];
        padded.extend_from_slice(secret);
        let first = (8 * offset).div_ceil(6);
        let end = (8 * (offset + secret.len())) / 6;
        for alphabet in [STANDARD, URL_SAFE] {
            let encoded = base64(&padded, alphabet);
            if end > first && end <= encoded.len() {
                cores.push(encoded[first..end].to_vec());
            }
        }
    }
    cores.sort();
    cores.dedup();
    cores
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// How many bytes of `text` from `at` spell `secret`, each of its bytes written as
/// itself, percent-encoded (either hex case), `+` for a space, or JSON-escaped
/// (`\/`, `\"`, `\\`); `None` if they do not.
fn match_at(text: &[u8], at: usize, secret: &[u8]) -> Option<usize> {
    let mut index = at;
    for &wanted in secret {
        let here = *text.get(index)?;
        if here == b'%'
            && let (Some(high), Some(low)) =
                (text.get(index + 1).copied().and_then(hex_value), text.get(index + 2).copied().and_then(hex_value))
            && high * 16 + low == wanted
        {
            index += 3;
        } else if here == wanted || (here == b'+' && wanted == b' ') {
            index += 1;
        } else if here == b'\\' && matches!(wanted, b'/' | b'"' | b'\\') && text.get(index + 1) == Some(&wanted) {
            index += 2;
        } else {
            return None;
        }
    }
    Some(index - at)
}

/// `text` with every spelling of `secret` replaced by `marker`.
pub(super) fn replace_all(text: &[u8], secret: &[u8], marker: &[u8]) -> Option<Vec<u8>> {
    let first = *secret.first()?;
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut index = 0;
    while index < text.len() {
        let byte = text[index];
        let may_start = byte == first || byte == b'%' || byte == b'+' || byte == b'\\';
        if may_start && let Some(length) = match_at(text, index, secret) {
            let buffer = out.get_or_insert_with(Vec::new);
            buffer.extend_from_slice(&text[copied..index]);
            buffer.extend_from_slice(marker);
            index += length;
            copied = index;
            continue;
        }
        index += 1;
    }
    let mut buffer = out?;
    buffer.extend_from_slice(&text[copied..]);
    Some(buffer)
}
