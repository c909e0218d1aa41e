//! `http_check`: GET a URL until it answers as expected.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::effect::{EffectContext, EffectError, Primitive};

/// The HTTP check primitive.
#[doc = include_str!("docs/http_check.md")]
pub struct HttpCheck;

/// Arguments of `http_check`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpCheckParams {
    pub url: String,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub contains: Option<String>,
    #[serde(default)]
    pub retries: Option<u32>,
    #[serde(default, with = "crate::base::time::serde_duration::option")]
    pub interval: Option<Duration>,
    #[serde(default, with = "crate::base::time::serde_duration::option")]
    pub timeout: Option<Duration>,
}

/// Result of `http_check`: the attempt that passed.
#[derive(Debug, Serialize)]
pub struct HttpCheckOutput {
    pub url: String,
    pub status: u16,
    pub attempts: u32,
    pub latency_ms: u64,
}

/// The most of a body `http_check` reads looking for `contains`.
pub const CHECK_BODY_CAP: usize = 1024 * 1024;
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

/// `bytes` in words (`1 MiB`, `64 KiB`).
pub fn size_in_words(bytes: usize) -> String {
    match bytes {
        bytes if bytes >= 1024 * 1024 && bytes % (1024 * 1024) == 0 => format!("{} MiB", bytes / (1024 * 1024)),
        bytes if bytes >= 1024 && bytes % 1024 == 0 => format!("{} KiB", bytes / 1024),
        bytes => format!("{bytes} bytes"),
    }
}

const DEFAULT_RETRIES: u32 = 3;
const DEFAULT_INTERVAL: Duration = Duration::from_secs(2);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

impl HttpCheckParams {
    fn expected(&self) -> u16 {
        self.status.unwrap_or(200)
    }

    fn describe(&self) -> String {
        match &self.contains {
            Some(text) => format!("status {} and a body containing {text:?}", self.expected()),
            None => format!("status {}", self.expected()),
        }
    }
}

impl Primitive for HttpCheck {
    type Params = HttpCheckParams;
    type Output = HttpCheckOutput;

    fn name(&self) -> &'static str {
        "http_check"
    }

    fn doc(&self) -> &'static str {
        include_str!("docs/http_check.md")
    }

    fn validate(&self, params: &HttpCheckParams, _context: &EffectContext) -> Result<(), EffectError> {
        let url = reqwest::Url::parse(&params.url)
            .map_err(|error| EffectError::new(format!("url {:?} is not a URL: {error}", params.url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(EffectError::new(format!("url {:?} is not http or https", params.url)));
        }
        Ok(())
    }

    fn live(&self, params: &HttpCheckParams, context: &EffectContext) -> Result<HttpCheckOutput, EffectError> {
        let client = context.http()?;
        let attempts = params.retries.unwrap_or(DEFAULT_RETRIES).saturating_add(1);
        let interval = params.interval.unwrap_or(DEFAULT_INTERVAL);
        let timeout = params.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let mut last = String::from("no attempt made");
        for number in 1..=attempts {
            let started = Instant::now();
            let answer = context.block_on(|| async {
                let response = client.get(&params.url).timeout(timeout).send().await?;
                let status = response.status().as_u16();
                // Without `contains` the body is not read at all.
                let body = match &params.contains {
                    Some(text) => read_capped(response, CHECK_BODY_CAP, 0, Some(text.as_bytes())).await?,
                    None => CappedBody { found: true, ..CappedBody::default() },
                };
                Ok::<_, reqwest::Error>((status, body))
            })?;
            let latency = started.elapsed();
            match answer {
                Ok((status, body)) => {
                    let body_ok = body.found;
                    if status == params.expected() && body_ok {
                        return Ok(HttpCheckOutput {
                            url: params.url.clone(),
                            status,
                            attempts: number,
                            latency_ms: latency.as_millis() as u64,
                        });
                    }
                    last = if body_ok {
                        format!("got status {status} ({} ms)", latency.as_millis())
                    } else if body.truncated {
                        format!(
                            "got status {status} without {:?} in the first {} of the body, which is larger: \
                             the rest was not read ({} ms)",
                            params.contains.as_deref().unwrap_or(""),
                            size_in_words(CHECK_BODY_CAP),
                            latency.as_millis()
                        )
                    } else {
                        format!(
                            "got status {status} without {:?} in the body ({} ms)",
                            params.contains.as_deref().unwrap_or(""),
                            latency.as_millis()
                        )
                    };
                }
                Err(error) => last = format!("{} ({} ms)", error.without_url(), latency.as_millis()),
            }
            if number < attempts {
                context.progress(&format!("attempt {number} of {attempts}: {last}"));
                context.sleep(interval)?;
            }
        }
        Err(EffectError::new(format!(
            "GET {}: expected {}, {last} after {attempts} attempts",
            params.url,
            params.describe()
        )))
    }

    fn plan(&self, params: &HttpCheckParams, _context: &EffectContext) -> Result<HttpCheckOutput, EffectError> {
        Ok(HttpCheckOutput { url: params.url.clone(), status: params.expected(), attempts: 1, latency_ms: 0 })
    }
}
