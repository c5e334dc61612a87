//! The `{"error": "..."}` dialect of seeds 000/001/002, with `{"result": [...]}` answers.

use std::collections::BTreeMap;
use std::future::Future;

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use crate::app::App;
use crate::auth::Principal;
use crate::config::Limits;
use crate::deadline::Deadline;
use crate::domain::outcome::{BulkResult, ItemOutcome};
use crate::http::error::RequestError;
use crate::http::idempotency;
use crate::http::web::{self, json_response};
use crate::store::StoreError;

/// A request-level error: `{"error": "<text>"}` with its status.
pub fn error(err: &RequestError) -> Response<Body> {
    web::with_retry_after(json_response(
        err.status(),
        &json!({ "error": err.to_string() }),
    ))
}

/// The 200 answer: `{"result": [...]}`, one entry per item in request order.
pub fn bulk(outcomes: &[ItemOutcome]) -> Response<Body> {
    json_response(StatusCode::OK, &BulkResult { result: outcomes })
}

/// Serves a bulk endpoint of this dialect: authenticate (admin), parse the body with
/// `parse`, run the service, answer `{"result": [...]}`, and log one summary line with the
/// outcome counts and the DynamoDB calls made. A body declared as anything but JSON is a
/// 415 (before authentication, as in the `Result` dialect); a store failure before any
/// write is a 503.
pub async fn serve<T, P, S, F>(
    app: &App,
    req: &Request,
    operation: &'static str,
    parse: P,
    service: S,
) -> Response<Body>
where
    P: FnOnce(&[u8], &Limits) -> Result<T, RequestError>,
    S: FnOnce(Principal, T, Deadline) -> F,
    F: Future<Output = Result<Vec<ItemOutcome>, StoreError>>,
{
    let deadline = web::deadline(req, &app.config);
    if let Err(e) = crate::http::negotiate::require_json_body(req) {
        return error(&e);
    }
    let principal = match web::require_admin(req, &app.config.auth) {
        Ok(p) => p,
        Err(e) => return error(&e),
    };
    let input = match parse(req.body().as_ref(), &app.config.limits) {
        Ok(input) => input,
        Err(e) => return error(&e),
    };
    let subject = principal.subject.clone();
    idempotency::once(&app.store, req, operation, &subject, &deadline, error, || async {
        let before = app.calls.snapshot();
        let result = service(principal, input, deadline).await;
        let calls = app.calls.snapshot().since(&before);
        match result {
            Ok(outcomes) if nothing_confirmed(&outcomes) => {
                tracing::error!(
                    operation,
                    items = outcomes.len(),
                    dynamodb_calls = %calls,
                    "{operation}: DynamoDB confirmed nothing before the deadline"
                );
                error(&RequestError::Unavailable)
            }
            Ok(outcomes) => {
                let mut counts: BTreeMap<String, usize> = BTreeMap::new();
                for o in &outcomes {
                    let key = serde_json::to_value(o.info)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    *counts.entry(key).or_default() += 1;
                }
                tracing::info!(
                    operation,
                    items = outcomes.len(),
                    outcomes = ?counts,
                    dynamodb_calls = %calls,
                    "{operation} done"
                );
                bulk(&outcomes)
            }
            Err(e) => {
                tracing::error!(operation, error = ?e, dynamodb_calls = %calls, "{operation} failed before writing");
                error(&RequestError::Unavailable)
            }
        }
    })
    .await
}

/// Every item is `not_processed`: DynamoDB could not be reached (or kept throttling)
/// for the whole request, nothing was applied and no item has an answer of its own, so
/// the request is answered 503 as a whole rather than 200 with nothing done.
pub fn nothing_confirmed(outcomes: &[ItemOutcome]) -> bool {
    !outcomes.is_empty()
        && outcomes
            .iter()
            .all(|o| o.info == crate::domain::outcome::ExtendedInfo::NotProcessed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::AuthError;
    use crate::domain::json::{BodyError, JsonPath};

    fn body(r: &Response<Body>) -> serde_json::Value {
        serde_json::from_slice(r.body().as_ref()).unwrap()
    }

    #[test]
    fn errors_render_as_in_the_seeds() {
        let cases = [
            (
                RequestError::Unauthenticated(AuthError::Expired),
                401,
                "Log In",
            ),
            (
                RequestError::Forbidden,
                403,
                "Administrator rights required",
            ),
            (
                RequestError::Body(BodyError::Malformed),
                400,
                "Wrong JSON body",
            ),
            (
                RequestError::Body(BodyError::Missing(
                    JsonPath::root("list_items").index(3).field("name"),
                )),
                400,
                "Wrong JSON body: no value for `list_items[3].name`",
            ),
            (RequestError::EmptyList, 400, "List cannot be empty"),
            (
                RequestError::EmptyAuthFactors,
                400,
                "auth_factors must contain at least one item",
            ),
        ];
        for (err, status, text) in cases {
            let r = error(&err);
            assert_eq!(r.status().as_u16(), status);
            assert_eq!(body(&r), json!({ "error": text }));
            assert_eq!(r.headers()["content-type"], "application/json");
        }
    }
}
