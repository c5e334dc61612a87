//! HTTP: one request sent until it has an answer worth acting on, by the rules of
//! [`crate::retry`].

use std::time::Duration;

use reqwest::Url;

use crate::retry::{RetryPolicy, StatusClass, classify, parse_retry_after};
use crate::stop::Stop;

/// The HTTP methods this tool uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    /// GET (limits, listing).
    Get,
    /// POST (upsert, soft delete).
    Post,
    /// DELETE (hard delete).
    Delete,
}

/// One request.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    /// The method.
    pub verb: Verb,
    /// The path below the base URL, e.g. `/api/v1/users/bulk`.
    pub path: &'a str,
    /// Query parameters, in order (encoded here).
    pub query: &'a [(String, String)],
    /// A JSON body.
    pub body: Option<&'a [u8]>,
    /// The `Idempotency-Key`.
    pub key: Option<&'a str>,
}

/// A 2xx answer.
#[derive(Clone, Debug)]
pub struct Answer {
    /// The status.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

/// Why a request has no 2xx answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// 401 or 403.
    #[error("HTTP {status}: {message}")]
    Auth {
        /// The status.
        status: u16,
        /// The server's text.
        message: String,
    },
    /// No connection could be made, also after the retries.
    #[error("{0}")]
    Connect(String),
    /// A status that is not retried (400, 404, 413, 415, 422, ...).
    #[error("HTTP {status}: {message}")]
    Refused {
        /// The status.
        status: u16,
        /// The server's text.
        message: String,
    },
    /// Still failing (429, 5xx, timeouts) after the retries.
    #[error("{0}")]
    GaveUp(String),
    /// The run is stopping; the request was not (re)sent.
    #[error("stopped")]
    Stopped,
}

/// Options of the HTTP client.
#[derive(Clone, Copy, Debug)]
pub struct ClientOptions {
    /// How long one attempt may take.
    pub timeout: Duration,
    /// Retries.
    pub policy: RetryPolicy,
}

/// The API client: base URL, token, retries.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    policy: RetryPolicy,
    stop: Stop,
}

/// The text of an error answer in any of the API's dialects: `{"error": "..."}`, a
/// `Result`'s first message, the filter dialect's `error.message`, a SCIM `detail`; else
/// the start of the body.
pub fn error_text(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        let found = v
            .get("error")
            .and_then(|e| {
                e.as_str()
                    .or_else(|| e.get("message").and_then(|m| m.as_str()))
            })
            .or_else(|| {
                v.get("messages")
                    .and_then(|m| m.get(0))
                    .and_then(|m| m.get("message"))
                    .and_then(|m| m.as_str())
            })
            .or_else(|| v.get("detail").and_then(|d| d.as_str()));
        if let Some(text) = found {
            return text.to_owned();
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(no body)".to_owned();
    }
    text.chars().take(200).collect()
}

/// A transport error with its causes (reqwest's own text says little: "error sending
/// request").
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// What went wrong with one attempt.
enum Failure {
    Status(u16, String),
    Transport { connect: bool, text: String },
}

impl Client {
    /// A client of the API at `base` (`http://127.0.0.1:9000`; a trailing `/` is dropped).
    pub fn new(
        base: &str,
        token: String,
        options: ClientOptions,
        stop: Stop,
    ) -> Result<Self, String> {
        let base = base.trim().trim_end_matches('/').to_owned();
        let url = Url::parse(&base).map_err(|e| format!("--url {base}: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("--url {base}: expected an http:// or https:// URL"));
        }
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(Duration::from_secs(10).min(options.timeout))
            .user_agent(concat!("usersync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot set up HTTP: {}", describe(&e)))?;
        Ok(Self {
            http,
            base,
            token,
            policy: options.policy,
            stop,
        })
    }

    /// The retry policy.
    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// The stop signal requests watch.
    pub fn stop(&self) -> &Stop {
        &self.stop
    }

    /// The URL of `path` with `query`.
    pub fn url(&self, path: &str, query: &[(String, String)]) -> Result<Url, String> {
        let mut url =
            Url::parse(&format!("{}{path}", self.base)).map_err(|e| format!("{path}: {e}"))?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }

    async fn attempt(
        &self,
        req: &Request<'_>,
        url: &Url,
    ) -> Result<Answer, (Failure, Option<Duration>)> {
        let method = match req.verb {
            Verb::Get => reqwest::Method::GET,
            Verb::Post => reqwest::Method::POST,
            Verb::Delete => reqwest::Method::DELETE,
        };
        let mut builder = self
            .http
            .request(method, url.clone())
            .bearer_auth(&self.token)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(body) = req.body {
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_vec());
        }
        if let Some(key) = req.key {
            builder = builder.header("Idempotency-Key", key);
        }
        let transport = |e: reqwest::Error| {
            (
                Failure::Transport {
                    connect: e.is_connect(),
                    text: describe(&e),
                },
                None,
            )
        };
        let response = builder.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = response.bytes().await.map_err(transport)?.to_vec();
        if classify(status) == StatusClass::Success {
            return Ok(Answer { status, body });
        }
        Err((Failure::Status(status, error_text(&body)), retry_after))
    }

    /// Sends `req` until it has a 2xx answer, a status that is not retried, or the
    /// retries run out. Waits between attempts end early when the run stops.
    pub async fn send(&self, req: &Request<'_>) -> Result<Answer, SendError> {
        let url = self.url(req.path, req.query).map_err(SendError::GaveUp)?;
        let mut attempt = 0u32;
        loop {
            if self.stop.is_stopped() {
                return Err(SendError::Stopped);
            }
            let (failure, retry_after) = match self.attempt(req, &url).await {
                Ok(answer) => return Ok(answer),
                Err(f) => f,
            };
            if let Failure::Status(status, message) = &failure {
                match classify(*status) {
                    StatusClass::Auth => {
                        return Err(SendError::Auth {
                            status: *status,
                            message: message.clone(),
                        });
                    }
                    StatusClass::Refused => {
                        return Err(SendError::Refused {
                            status: *status,
                            message: message.clone(),
                        });
                    }
                    StatusClass::Retry | StatusClass::Success => {}
                }
            }
            if attempt >= self.policy.max_retries {
                let tries = attempt + 1;
                return Err(match failure {
                    Failure::Transport {
                        connect: true,
                        text,
                    } => SendError::Connect(format!("{text} ({tries} attempts)")),
                    Failure::Transport { text, .. } => {
                        SendError::GaveUp(format!("{text} ({tries} attempts)"))
                    }
                    Failure::Status(status, message) => {
                        SendError::GaveUp(format!("HTTP {status}: {message} ({tries} attempts)"))
                    }
                });
            }
            if !self
                .stop
                .sleep(self.policy.delay(attempt, retry_after))
                .await
            {
                return Err(SendError::Stopped);
            }
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_texts_are_read_from_every_dialect() {
        assert_eq!(error_text(br#"{"error": "Log In"}"#), "Log In");
        assert_eq!(
            error_text(br#"{"messages": [{"type": 1, "code": 400, "message": "List cannot be empty", "field": "ids"}]}"#),
            "List cannot be empty"
        );
        assert_eq!(
            error_text(br#"{"error_type": "validation_error", "success": false, "error": {"message": "Unknown parameter `x`", "code": 131}}"#),
            "Unknown parameter `x`"
        );
        assert_eq!(
            error_text(br#"{"detail": "nope", "status": "404"}"#),
            "nope"
        );
        assert_eq!(
            error_text(b"<html>Bad Gateway</html>"),
            "<html>Bad Gateway</html>"
        );
        assert_eq!(error_text(b""), "(no body)");
    }

    #[test]
    fn urls_keep_the_base_path_and_encode_the_query() {
        let c = Client::new(
            "https://api.example/prod/",
            "t".into(),
            ClientOptions {
                timeout: Duration::from_secs(1),
                policy: RetryPolicy::new(0),
            },
            Stop::new(),
        )
        .unwrap();
        let url = c
            .url(
                "/api/v1/users",
                &[
                    ("limit".into(), "1000".into()),
                    ("user_type".into(), "a b&c".into()),
                ],
            )
            .unwrap();
        assert_eq!(
            url.as_str(),
            "https://api.example/prod/api/v1/users?limit=1000&user_type=a+b%26c"
        );
        assert!(
            Client::new(
                "ftp://x",
                "t".into(),
                ClientOptions {
                    timeout: Duration::from_secs(1),
                    policy: RetryPolicy::new(0)
                },
                Stop::new()
            )
            .is_err()
        );
    }
}
