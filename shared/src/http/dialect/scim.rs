//! The SCIM 2.0 dialect (RFC 7644; docs/contracts.md#scim): every answer is
//! `application/scim+json`, every refusal a SCIM Error — `schemas`, `status` as a
//! string, `scimType` where RFC 7644 §3.12 names one, and `detail` — including a missing,
//! invalid or expired token (401) and a non-admin one (403), so identity providers
//! always get a body they parse.

use http::{HeaderName, HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

use crate::auth::AuthError;
use crate::http::error::RequestError;
use crate::http::pipeline::Dialect;
use crate::http::web;
use crate::metrics::Metrics;
use crate::store::calls::CallCounts;

/// The media type of SCIM answers.
pub const SCIM_JSON: &str = "application/scim+json";
/// The schema of SCIM errors.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// What a SCIM operation answers.
#[derive(Debug)]
pub struct ScimAnswer {
    /// 200, 201 or 204.
    pub status: StatusCode,
    /// The body (`None` for 204).
    pub body: Option<Value>,
    /// `Location`, `ETag`.
    pub headers: Vec<(HeaderName, String)>,
}

impl ScimAnswer {
    /// 200 with `body`.
    pub fn ok(body: Value) -> Self {
        Self {
            status: StatusCode::OK,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    /// 204, no body.
    pub fn no_content() -> Self {
        Self {
            status: StatusCode::NO_CONTENT,
            body: None,
            headers: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn with(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// A SCIM Error answer.
pub fn error_response(status: StatusCode, scim_type: Option<&str>, detail: &str) -> Response<Body> {
    let mut body = json!({
        "schemas": [ERROR_SCHEMA],
        "status": status.as_u16().to_string(),
        "detail": detail,
    });
    if let Some(t) = scim_type {
        body["scimType"] = json!(t);
    }
    web::with_retry_after(web::with_body(status, SCIM_JSON, body.to_string()))
}

/// A request-level error as a SCIM Error.
pub fn error(err: &RequestError) -> Response<Body> {
    let status = err.status();
    let (scim_type, detail): (Option<&str>, String) = match err {
        RequestError::Scim {
            scim_type, detail, ..
        } => (*scim_type, detail.clone()),
        RequestError::Unauthenticated(AuthError::MissingToken) => {
            (None, "Authentication required: send a bearer token".into())
        }
        RequestError::Unauthenticated(AuthError::Expired) => (None, "The token has expired".into()),
        RequestError::Unauthenticated(_) => (None, "The token is not valid".into()),
        RequestError::NotFound => (None, "Resource not found".into()),
        RequestError::Body(_) | RequestError::EmptyList | RequestError::EmptyAuthFactors => {
            (Some("invalidSyntax"), err.to_string())
        }
        RequestError::TooManyItems { .. } | RequestError::BodyTooLarge { .. } => {
            (Some("tooMany"), err.to_string())
        }
        RequestError::Filter(_) => (Some("invalidValue"), err.to_string()),
        _ => (None, err.to_string()),
    };
    error_response(status, scim_type, &detail)
}

/// The SCIM dialect: bodies in `application/scim+json` or `application/json` (or none),
/// answers in `application/scim+json`.
#[derive(Clone, Copy, Debug)]
pub struct Scim;

impl Dialect for Scim {
    type Answer = ScimAnswer;

    fn negotiate(req: &Request) -> (Self, Result<(), RequestError>) {
        let Some(declared) = req.headers().get(http::header::CONTENT_TYPE) else {
            return (Scim, Ok(()));
        };
        let essence = declared
            .to_str()
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let readable = matches!(
            essence.as_str(),
            SCIM_JSON | "application/json" | "text/json" | ""
        );
        if readable {
            (Scim, Ok(()))
        } else {
            (Scim, Err(RequestError::UnsupportedMediaType))
        }
    }

    fn error(&self, err: &RequestError) -> Response<Body> {
        error(err)
    }

    fn success(&self, answer: &ScimAnswer) -> Response<Body> {
        let mut response = match &answer.body {
            Some(body) => web::with_body(answer.status, SCIM_JSON, body.to_string()),
            None => {
                let mut r = Response::new(Body::Empty);
                *r.status_mut() = answer.status;
                r
            }
        };
        for (name, value) in &answer.headers {
            if let Ok(v) = HeaderValue::from_str(value) {
                response.headers_mut().insert(name.clone(), v);
            }
        }
        response
    }

    fn nothing_applied(&self, _answer: &ScimAnswer) -> bool {
        false
    }

    /// For a `/Bulk` answer: `items` (operations), `items_failed` (status 400 and up)
    /// and `items_not_processed` (503). Other answers add nothing to the status class.
    fn metrics(&self, answer: &ScimAnswer, metrics: &mut Metrics) {
        let Some(ops) = answer
            .body
            .as_ref()
            .and_then(|b| b.get("Operations"))
            .and_then(Value::as_array)
        else {
            return;
        };
        let status = |op: &Value| {
            op.get("status")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<u16>().ok())
                .unwrap_or(0)
        };
        metrics
            .add_count("items", ops.len())
            .add_count(
                "items_failed",
                ops.iter().filter(|o| status(o) >= 400).count(),
            )
            .add_count(
                "items_not_processed",
                ops.iter().filter(|o| status(o) == 503).count(),
            );
    }

    fn log_done(&self, operation: &str, answer: &ScimAnswer, calls: &CallCounts) {
        tracing::info!(
            operation,
            status = answer.status.as_u16(),
            dynamodb_calls = %calls,
            "{operation} done"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(r: &Response<Body>) -> Value {
        serde_json::from_slice(r.body().as_ref()).unwrap()
    }

    #[test]
    fn every_refusal_is_a_scim_error_with_a_string_status() {
        let r = error(&RequestError::Unauthenticated(AuthError::Invalid));
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()["content-type"], SCIM_JSON);
        assert_eq!(
            body(&r),
            json!({"schemas": [ERROR_SCHEMA], "status": "401", "detail": "The token is not valid"})
        );
        let r = error(&RequestError::Scim {
            status: 409,
            scim_type: Some("uniqueness"),
            detail: "userName ann is taken".into(),
        });
        assert_eq!(r.status(), 409);
        assert_eq!(body(&r)["scimType"], "uniqueness");
        assert_eq!(body(&r)["status"], "409");
        let r = error(&RequestError::Unavailable);
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["retry-after"], "5");
        assert_eq!(error(&RequestError::Forbidden).status(), 403);
    }
}
