//! Reading the body of a response from a server shipctl does not control (a health
//! endpoint, a chat webhook, a registry): up to a cap, so an untrusted server cannot
//! make shipctl hold more than the cap in memory, however much it sends. And the words
//! for a request that got no answer at all: [`error_in_words`].

use std::time::Duration;

use crate::config::Redactor;

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

/// `1 attempt`, `3 attempts`.
pub fn attempts_in_words(count: u32) -> String {
    if count == 1 { "1 attempt".to_string() } else { format!("{count} attempts") }
}

/// Why a request got no answer, in the words an operator needs: `connection refused`,
/// `DNS name not found`, `timed out after 10 s`, `TLS certificate invalid`, ... followed
/// by the innermost cause as the system said it. reqwest's own text (`error sending
/// request`) is the same for all of these. `timeout` is the limit the request was sent
/// with, for the words of a timeout. The text passes through `redactor`: the chain can
/// quote the URL, whose query or path may hold a secret.
pub fn error_in_words(error: &reqwest::Error, timeout: Option<Duration>, redactor: &Redactor) -> String {
    redactor.redact_str(&unredacted_words(error, timeout))
}

/// [`error_in_words`] without the redaction, for text that is redacted further up
/// (an error inside a stream that cannot hold the redactor, which is not `Send`).
pub fn unredacted_words(error: &reqwest::Error, timeout: Option<Duration>) -> String {
    let causes = source_chain(error);
    let cause = causes.last().cloned().unwrap_or_else(|| error.without_url_text());
    let all = causes.join(": ").to_ascii_lowercase();
    if error.is_timeout() || all.contains("timed out") {
        match timeout {
            Some(timeout) => format!("timed out after {}", seconds_in_words(timeout)),
            None => "timed out".to_string(),
        }
    } else if io_kind(error) == Some(std::io::ErrorKind::ConnectionRefused) {
        "connection refused".to_string()
    } else if all.contains("dns error") || all.contains("failed to lookup address") {
        format!("DNS name not found ({cause})")
    } else if all.contains("certificate") || all.contains("invalid peer") {
        format!("TLS certificate invalid ({cause})")
    } else if all.contains("tls") || all.contains("handshake") {
        format!("TLS handshake failed ({cause})")
    } else if matches!(io_kind(error), Some(std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof))
        || all.contains("connection closed")
        || all.contains("incomplete message")
    {
        format!("the connection was closed before an answer ({cause})")
    } else if error.is_connect() {
        format!("cannot connect ({cause})")
    } else {
        let mut text = error.without_url_text();
        for cause in &causes {
            text.push_str(&format!(": {cause}"));
        }
        text
    }
}

/// The `source()` chain below `error`, each text once (hyper repeats its cause).
fn source_chain(error: &reqwest::Error) -> Vec<String> {
    let mut causes: Vec<String> = Vec::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !causes.iter().any(|seen| seen == &text) {
            causes.push(text);
        }
        source = cause.source();
    }
    causes
}

/// The kind of the first I/O error in the chain, if any.
fn io_kind(error: &reqwest::Error) -> Option<std::io::ErrorKind> {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = cause.source();
    }
    None
}

/// `10 s`, `0.5 s`, `2 min`.
fn seconds_in_words(duration: Duration) -> String {
    let millis = duration.as_millis();
    match millis {
        millis if millis >= 60_000 && millis % 60_000 == 0 => format!("{} min", millis / 60_000),
        millis if millis % 1000 == 0 => format!("{} s", millis / 1000),
        millis if millis >= 1000 => format!("{:.1} s", duration.as_secs_f64()),
        millis => format!("{millis} ms"),
    }
}

/// reqwest's own text for an error, without the URL.
trait WithoutUrlText {
    fn without_url_text(&self) -> String;
}

impl WithoutUrlText for reqwest::Error {
    fn without_url_text(&self) -> String {
        let mut text = self.to_string();
        if let Some(url) = self.url() {
            text = text.replace(&format!(" for url ({url})"), "").replace(url.as_str(), "<url>");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::sync::Arc;

    use super::*;

    /// The words for a GET of `url` that fails, sent with `timeout`.
    fn failure(url: &str, timeout: Duration) -> String {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        // The client is built inside the runtime: it starts its resolver there.
        let error =
            runtime.block_on(async { reqwest::Client::new().get(url).timeout(timeout).send().await }).unwrap_err();
        error_in_words(&error, Some(timeout), &Redactor::default())
    }

    #[test]
    fn a_closed_port_is_a_refused_connection() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let words = failure(&format!("http://127.0.0.1:{port}/health"), Duration::from_secs(5));
        assert_eq!(words, "connection refused");
    }

    #[test]
    fn an_unknown_name_is_a_dns_failure() {
        let words = failure("http://shipctl-no-such-host.invalid/health", Duration::from_secs(5));
        assert!(words.starts_with("DNS name not found ("), "{words}");
    }

    #[test]
    fn a_server_that_never_answers_is_a_timeout_with_its_limit() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // Accepts, reads nothing, answers nothing, until the test ends.
        let held = std::thread::spawn(move || listener.accept().map(|(stream, _)| stream));
        let words = failure(&format!("http://127.0.0.1:{port}/"), Duration::from_millis(300));
        assert_eq!(words, "timed out after 300 ms");
        drop(held.join());
    }

    #[test]
    fn a_self_signed_certificate_is_an_invalid_certificate() {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::try_from(certified.signing_key.serialize_der()).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![certified.cert.der().clone()], key)
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut tcp, _) = listener.accept().unwrap();
            let mut connection = rustls::ServerConnection::new(Arc::new(config)).unwrap();
            // The client gives up in the handshake: the error here is expected.
            let _ = connection.complete_io(&mut tcp);
        });
        let words = failure(&format!("https://localhost:{port}/"), Duration::from_secs(5));
        assert!(words.starts_with("TLS certificate invalid ("), "{words}");
        server.join().unwrap();
    }

    #[test]
    fn attempts_are_counted_in_words() {
        assert_eq!(attempts_in_words(1), "1 attempt");
        assert_eq!(attempts_in_words(3), "3 attempts");
        assert_eq!(seconds_in_words(Duration::from_secs(10)), "10 s");
        assert_eq!(seconds_in_words(Duration::from_secs(120)), "2 min");
        assert_eq!(seconds_in_words(Duration::from_millis(1500)), "1.5 s");
    }
}
