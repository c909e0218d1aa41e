//! The registry's auth challenge: basic with the configured credentials, or a bearer
//! token from the realm the `WWW-Authenticate` header names, for the promotion's scopes.

use reqwest::StatusCode;
use serde::Deserialize;

use super::client::{Authorization, Client, ERROR_EXCERPT_CHARS, REQUEST_TIMEOUT, RegistryError};
use crate::config::Keep;

impl Client<'_> {
    /// Take up the authorization a 401's `WWW-Authenticate` asks for, once per request.
    pub(super) async fn answer_challenge(&mut self, challenge: &str) -> Result<(), RegistryError> {
        let (scheme, parameters) = parse_challenge(challenge);
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => {
                if self.credentials.is_none() {
                    return Err(RegistryError {
                        message: format!("registry {} requires a user name and password (basic auth)", self.host),
                        help: Some(format!(
                            "declare [registries.\"{}\"] with username and password_secret in shipctl.toml",
                            self.host
                        )),
                        status: Some(StatusCode::UNAUTHORIZED),
                    });
                }
                self.authorization = Authorization::Basic;
                Ok(())
            }
            "bearer" => {
                let token = self.token(&parameters).await?;
                self.authorization = Authorization::Bearer(token);
                Ok(())
            }
            _ => Err(RegistryError::new(format!(
                "registry {} asks for authentication shipctl does not speak: {challenge:?}",
                self.host
            ))),
        }
    }

    /// The bearer-token flow: ask the realm for a token for our scopes, with the
    /// credentials if there are any (anonymous otherwise).
    async fn token(&self, parameters: &[(String, String)]) -> Result<String, RegistryError> {
        let get = |name: &str| parameters.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone());
        let realm = get("realm").ok_or_else(|| {
            RegistryError::new(format!("registry {} sent a bearer challenge without a realm", self.host))
        })?;
        let mut url = reqwest::Url::parse(&realm).map_err(|error| {
            RegistryError::new(format!(
                "registry {} names a token realm that is not a URL ({realm}): {error}",
                self.host
            ))
        })?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = get("service") {
                query.append_pair("service", &service);
            }
            for scope in &self.scopes {
                query.append_pair("scope", scope);
            }
        }
        tracing::debug!(url = %self.redactor.redact_str(url.as_str()), "registry token request");
        let mut request = self.http.get(url).timeout(REQUEST_TIMEOUT);
        if let Some(credentials) = &self.credentials {
            request = request.basic_auth(&credentials.username, Some(&credentials.password));
        }
        let response = request.send().await.map_err(|error| {
            RegistryError::new(format!(
                "cannot reach the token service of {}: {}",
                self.host,
                self.words(&error, Some(REQUEST_TIMEOUT))
            ))
        })?;
        let status = response.status();
        if !status.is_success() {
            let body = self.error_body(response).await;
            let body = self.redactor.excerpt(&body, Keep::Head(ERROR_EXCERPT_CHARS));
            let mut error =
                RegistryError::new(format!("the token service of registry {} answered {status}: {body}", self.host));
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                error.help = Some(format!(
                    "check username and password_secret under [registries.\"{}\"] in shipctl.toml",
                    self.host
                ));
            }
            error.status = Some(status);
            return Err(error);
        }
        #[derive(Deserialize)]
        struct TokenAnswer {
            token: Option<String>,
            access_token: Option<String>,
        }
        let answer: TokenAnswer = response.json().await.map_err(|error| {
            RegistryError::new(format!("the token service of {} sent no token: {error}", self.host))
        })?;
        answer
            .token
            .or(answer.access_token)
            .filter(|token| !token.is_empty())
            .ok_or_else(|| RegistryError::new(format!("the token service of {} sent an empty token", self.host)))
    }
}

/// `Bearer realm="https://auth/token",service="registry",scope="repository:a:pull,push"`
/// as the scheme and its parameters (quoted values may hold commas).
pub fn parse_challenge(header: &str) -> (String, Vec<(String, String)>) {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut parameters = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        if key.is_empty() {
            break;
        }
        if chars.next_if_eq(&'=').is_none() {
            parameters.push((key.trim().to_string(), String::new()));
            continue;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    other => value.push(other),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect::<String>().trim().to_string();
        }
        parameters.push((key.trim().to_string(), value));
    }
    (scheme.to_string(), parameters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let (scheme, parameters) = parse_challenge(
            "Bearer realm=\"https://auth.example.org/token\",service=\"registry\",scope=\"repository:a/b:pull,push\"",
        );
        assert_eq!(scheme, "Bearer");
        assert_eq!(
            parameters,
            vec![
                ("realm".to_string(), "https://auth.example.org/token".to_string()),
                ("service".to_string(), "registry".to_string()),
                ("scope".to_string(), "repository:a/b:pull,push".to_string()),
            ]
        );
        assert_eq!(parse_challenge("Basic realm=\"x\"").0, "Basic");
    }
}
