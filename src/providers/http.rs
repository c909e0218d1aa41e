//! Reading the body of a response from a server shipctl does not control (a health
//! endpoint, a chat webhook, a registry): up to a cap, so an untrusted server cannot
//! make shipctl hold more than the cap in memory, however much it sends.

/// The most of an error body read for an excerpt (notify, registries).
pub const EXCERPT_BODY_CAP: usize = 64 * 1024;

/// A response body read up to a cap: an untrusted server cannot make shipctl hold
/// more than the cap in memory, however much it sends.
#[derive(Debug, Default)]
pub struct CappedBody {
    /// The first bytes of the body, at most the `keep` asked for.
    pub head: Vec<u8>,
    /// Bytes read, at most the cap.
    pub read: usize,
    /// The body went on past the cap and was not read further.
    pub truncated: bool,
    /// The needle was found in what was read (always true without a needle).
    pub found: bool,
}

impl CappedBody {
    /// The head as text (invalid UTF-8 replaced). Pass it through
    /// `EffectContext::excerpt` before it goes anywhere.
    pub fn head_text(&self) -> String {
        String::from_utf8_lossy(&self.head).into_owned()
    }
}

/// Read `response`'s body chunk by chunk, stopping at `cap` bytes, keeping the first
/// `keep` of them and looking for `needle` as it goes (across chunk boundaries). Once
/// the needle is found and the head is full, it stops reading. The only way a
/// primitive reads a body it did not write.
pub async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
    keep: usize,
    needle: Option<&[u8]>,
) -> Result<CappedBody, reqwest::Error> {
    let needle = needle.filter(|needle| !needle.is_empty());
    let mut body = CappedBody { found: needle.is_none(), ..CappedBody::default() };
    // The last `needle.len() - 1` bytes seen, so a needle split by a chunk is found.
    let mut window: Vec<u8> = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.read >= cap {
            body.truncated = !chunk.is_empty();
            break;
        }
        let room = cap - body.read;
        let chunk = if chunk.len() > room {
            body.truncated = true;
            &chunk[..room]
        } else {
            &chunk[..]
        };
        body.read += chunk.len();
        let head_room = keep.saturating_sub(body.head.len());
        body.head.extend_from_slice(&chunk[..chunk.len().min(head_room)]);
        if let Some(needle) = needle
            && !body.found
        {
            window.extend_from_slice(chunk);
            body.found = window.windows(needle.len()).any(|part| part == needle);
            let tail = window.len().saturating_sub(needle.len() - 1);
            window.drain(..tail);
        }
        if body.truncated || (body.found && body.head.len() >= keep) {
            break;
        }
    }
    Ok(body)
}
