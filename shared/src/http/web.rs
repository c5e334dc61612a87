//! The HTTP side shared by every endpoint: deadline, caller, body limits, JSON answers.

use std::collections::HashMap;

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

use crate::auth::{Authenticator, Principal};
use crate::config::Config;
use crate::deadline::Deadline;
use crate::http::error::RequestError;

/// The invocation's deadline: the Lambda deadline minus the configured margin, or the
/// default budget when no real deadline is known (in-process tests, local emulators).
pub fn deadline(req: &Request, config: &Config) -> Deadline {
    let deadline_ms = req.lambda_context_ref().map_or(0, |ctx| ctx.deadline);
    Deadline::for_invocation(deadline_ms, config.deadline_margin, config.default_budget)
}

/// Claims an API Gateway JWT authorizer verified, when the request carries them.
pub fn gateway_claims(req: &Request) -> Option<&HashMap<String, String>> {
    match req.request_context_ref()? {
        RequestContext::ApiGatewayV2(ctx) => {
            ctx.authorizer.as_ref()?.jwt.as_ref().map(|jwt| &jwt.claims)
        }
        _ => None,
    }
}

/// Authenticates the caller and requires the admin role.
pub fn require_admin(req: &Request, auth: &Authenticator) -> Result<Principal, RequestError> {
    let principal = auth
        .authenticate(req.headers(), gateway_claims(req))
        .map_err(RequestError::Unauthenticated)?;
    if !principal.is_admin {
        return Err(RequestError::Forbidden);
    }
    Ok(principal)
}

/// The body, refused when larger than `max` bytes.
pub fn body_within(req: &Request, max: usize) -> Result<&[u8], RequestError> {
    let body: &[u8] = req.body().as_ref();
    if body.len() > max {
        return Err(RequestError::BodyTooLarge { max });
    }
    Ok(body)
}

/// Seconds a 503's `Retry-After` asks the client to wait: DynamoDB was unreachable,
/// stalled or throttling for the whole request, which rarely clears within a second.
pub const RETRY_AFTER_SECS: u32 = 5;

/// Adds `Retry-After` to a 503 answer (every dialect's request errors pass here); other
/// answers are returned as they are.
pub fn with_retry_after(mut response: Response<Body>) -> Response<Body> {
    if response.status() == http::StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from(RETRY_AFTER_SECS),
        );
    }
    response
}

/// A JSON answer.
pub fn json_response(status: http::StatusCode, value: &impl Serialize) -> Response<Body> {
    let body = serde_json::to_string(value)
        .unwrap_or_else(|_| r#"{"error":"response could not be encoded"}"#.to_owned());
    with_body(status, "application/json", body)
}

/// An answer with a body of the given content type.
pub fn with_body(status: http::StatusCode, content_type: &str, body: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    response
}
