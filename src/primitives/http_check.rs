//! `http_check`: GET a URL until it answers as expected.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::effect::{EffectClass, EffectContext, EffectError, Primitive};
use crate::providers::http::{CappedBody, attempts_in_words, error_in_words, read_capped};

/// The HTTP check primitive.
#[doc = include_str!("docs/http_check.md")]
pub struct HttpCheck;

/// Arguments of `http_check`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpCheckParams {
    pub url: String,
    pub status: Option<u16>,
    pub contains: Option<String>,
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

    fn class(&self) -> EffectClass {
        EffectClass::Read
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
            tracing::debug!(url = %context.redactor().redact_str(&params.url), attempt = number, "GET");
            let started = Instant::now();
            let answer = context.wait(|| async {
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
                Err(error) => {
                    last = format!("{} ({} ms)", error_in_words(&error, Some(timeout), &context.redactor()), latency.as_millis())
                }
            }
            if number < attempts {
                context.progress(&format!("attempt {number} of {attempts}: {last}"));
                context.sleep(interval)?;
            }
        }
        Err(EffectError::new(format!(
            "GET {}: expected {}, {last} after {}",
            params.url,
            params.describe(),
            attempts_in_words(attempts)
        )))
    }

    fn plan(&self, params: &HttpCheckParams, _context: &EffectContext) -> Result<HttpCheckOutput, EffectError> {
        Ok(HttpCheckOutput { url: params.url.clone(), status: params.expected(), attempts: 1, latency_ms: 0 })
    }
}
