//! `notify`: messages to Slack-compatible webhooks, generic webhooks, or stdout.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::base::suggest::did_you_mean;
use crate::config::{ChannelConfig, ChannelKind, Keep};
use crate::effect::Event;
use crate::effect::{EffectClass, EffectContext, EffectError, Primitive};
use crate::providers::http::{attempts_in_words, error_in_words};

/// The notify primitive.
#[doc = include_str!("docs/notify.md")]
pub struct Notify;

/// Arguments of `notify`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyParams {
    pub channel: String,
    pub text: String,
    #[serde(default)]
    pub fields: BTreeMap<String, Value>,
}

/// Result of `notify`.
#[derive(Debug, Serialize)]
pub struct NotifyOutput {
    pub channel: String,
    pub kind: ChannelKind,
    pub delivered: bool,
    pub attempts: u32,
    /// HTTP status of the delivering request; 0 for `stdout`.
    pub status: u16,
}

fn channel<'a>(params: &NotifyParams, context: &'a EffectContext) -> Result<&'a ChannelConfig, EffectError> {
    let channels = &context.project.config.notify;
    channels.get(&params.channel).ok_or_else(|| {
        let names: Vec<&str> = channels.keys().map(String::as_str).collect();
        let error = EffectError::new(format!("no notification channel \"{}\"", params.channel));
        match did_you_mean(&params.channel, names.iter().copied()) {
            Some(close) => error.with_help(format!("did you mean \"{close}\"?")),
            None if names.is_empty() => {
                error.with_help("declare one as [notify.<name>] in shipctl.toml (kind = \"stdout\" for local use)")
            }
            None => error.with_help(format!("channels: {}", names.join(", "))),
        }
    })
}

fn field_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn payload(kind: ChannelKind, params: &NotifyParams, context: &EffectContext) -> Value {
    match kind {
        ChannelKind::Slack => {
            let mut body = json!({ "text": params.text });
            if !params.fields.is_empty() {
                let fields: Vec<Value> = params
                    .fields
                    .iter()
                    .map(|(title, value)| json!({ "title": title, "value": field_text(value), "short": true }))
                    .collect();
                body["attachments"] = json!([{ "fields": fields }]);
            }
            body
        }
        _ => json!({
            "channel": params.channel,
            "text": params.text,
            "fields": params.fields,
            "run_id": context.run_id,
            "environment": context.environment_name,
            "script": context.script,
        }),
    }
}

/// How much of a failed delivery's answer an error quotes, and how much is read for it.
const EXCERPT_CHARS: usize = 500;
const EXCERPT_BYTES: usize = 4 * 1024;

/// One delivery attempt's failure: retry it or give up.
enum Failure {
    Retry(String),
    Fatal(EffectError),
}

fn attempt(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
    timeout: Duration,
    context: &EffectContext,
) -> Result<u16, Failure> {
    tracing::debug!(url = %context.redactor().redact_str(url), "POST");
    let request = client.post(url).timeout(timeout).json(body);
    let response = context.block_on(|| request.send()).map_err(Failure::Fatal)?;
    let response = match response {
        Ok(response) => response,
        Err(error) if error.is_timeout() || error.is_connect() || error.is_request() => {
            return Err(Failure::Retry(error_in_words(&error, Some(timeout), &context.redactor())));
        }
        Err(error) => {
            return Err(Failure::Fatal(EffectError::new(error_in_words(&error, Some(timeout), &context.redactor()))));
        }
    };
    let status = response.status();
    if status.is_success() {
        return Ok(status.as_u16());
    }
    let body = context
        .block_on(|| {
            crate::providers::http::read_capped(response, crate::providers::http::EXCERPT_BODY_CAP, EXCERPT_BYTES, None)
        })
        .map_err(Failure::Fatal)?
        .unwrap_or_default();
    let excerpt = context.excerpt(&body.head_text(), Keep::Head(EXCERPT_CHARS));
    if status.is_server_error() {
        return Err(Failure::Retry(format!("{status}: {excerpt}")));
    }
    Err(Failure::Fatal(
        EffectError::new(format!("the webhook answered {status}: {excerpt}"))
            .with_help("a 4xx answer is not retried: check the channel's URL and the payload"),
    ))
}

impl Primitive for Notify {
    type Params = NotifyParams;
    type Output = NotifyOutput;

    fn name(&self) -> &'static str {
        "notify"
    }

    fn doc(&self) -> &'static str {
        include_str!("docs/notify.md")
    }

    fn class(&self) -> EffectClass {
        EffectClass::Notify
    }

    fn validate(&self, params: &NotifyParams, context: &EffectContext) -> Result<(), EffectError> {
        channel(params, context).map(|_| ())
    }

    fn live(&self, params: &NotifyParams, context: &EffectContext) -> Result<NotifyOutput, EffectError> {
        let config = channel(params, context)?;
        let output = |attempts, status| NotifyOutput {
            channel: params.channel.clone(),
            kind: config.kind,
            delivered: true,
            attempts,
            status,
        };
        if config.kind == ChannelKind::Stdout {
            let mut text = format!("[{}] {}", params.channel, params.text);
            for (key, value) in &params.fields {
                text.push_str(&format!("\n    {key}: {}", field_text(value)));
            }
            context.report(&Event::Output { text: &text });
            return Ok(output(1, 0));
        }
        let secret = config.url_secret.as_deref().unwrap_or_default();
        let url = context.secrets.get(secret).map_err(EffectError::new)?;
        let client = context.http()?;
        let body = payload(config.kind, params, context);
        let attempts = config.retries.saturating_add(1);
        let mut backoff = config.backoff;
        let mut last = String::new();
        for number in 1..=attempts {
            match attempt(client, &url, &body, config.timeout, context) {
                Ok(status) => return Ok(output(number, status)),
                Err(Failure::Fatal(error)) => return Err(error),
                Err(Failure::Retry(reason)) => last = reason,
            }
            if number < attempts {
                context.progress(&format!(
                    "attempt {number} of {attempts} failed ({last}); retrying in {}",
                    crate::base::time::format_duration(backoff)
                ));
                context.sleep(backoff)?;
                backoff = backoff.saturating_mul(2);
            }
        }
        Err(EffectError::new(format!(
            "channel \"{}\" not reached after {}: {last}",
            params.channel,
            attempts_in_words(attempts)
        )))
    }

    fn plan(&self, params: &NotifyParams, context: &EffectContext) -> Result<NotifyOutput, EffectError> {
        let config = channel(params, context)?;
        let status = if config.kind == ChannelKind::Stdout { 0 } else { 200 };
        Ok(NotifyOutput { channel: params.channel.clone(), kind: config.kind, delivered: true, attempts: 1, status })
    }
}
