//! The `{"error": "..."}` dialect of the upsert and the delete, with `{"result": [...]}`
//! answers (docs/contracts.md#error-string-dialect).

use std::collections::BTreeMap;

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use crate::domain::outcome::{BulkResult, ItemOutcome};
use crate::http::error::RequestError;
use crate::http::negotiate;
use crate::http::pipeline::Dialect;
use crate::http::web::{self, json_response};
use crate::metrics::Metrics;
use crate::store::calls::CallCounts;

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

/// The dialect of the upsert and the hard delete: bodies must be JSON; the answer of a
/// request that ran is `{"result": [...]}` and every refusal is `{"error": "<text>"}`.
#[derive(Clone, Copy, Debug)]
pub struct Plain;

impl Dialect for Plain {
    type Answer = Vec<ItemOutcome>;

    fn negotiate(req: &Request) -> (Self, Result<(), RequestError>) {
        (Plain, negotiate::require_json_body(req))
    }

    fn error(&self, err: &RequestError) -> Response<Body> {
        error(err)
    }

    fn success(&self, outcomes: &Vec<ItemOutcome>) -> Response<Body> {
        bulk(outcomes)
    }

    fn nothing_applied(&self, outcomes: &Vec<ItemOutcome>) -> bool {
        nothing_confirmed(outcomes)
    }

    fn log_done(&self, operation: &str, outcomes: &Vec<ItemOutcome>, calls: &CallCounts) {
        let counts = outcome_counts(outcomes);
        tracing::info!(
            operation,
            items = outcomes.len(),
            outcomes = ?counts,
            dynamodb_calls = %calls,
            "{operation} done"
        );
    }

    /// `items`, `items_<extended_info>` for each value given (`items_created`, ...), and
    /// `items_not_processed` always.
    fn metrics(&self, outcomes: &Vec<ItemOutcome>, metrics: &mut Metrics) {
        metrics
            .add_count("items", outcomes.len())
            .add("items_not_processed", 0);
        for (info, n) in outcome_counts(outcomes) {
            metrics.add_count(&format!("items_{info}"), n);
        }
    }
}

/// How many items got each `extended_info`, by its contract spelling.
fn outcome_counts(outcomes: &[ItemOutcome]) -> BTreeMap<String, usize> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for o in outcomes {
        let key = serde_json::to_value(o.info)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        *counts.entry(key).or_default() += 1;
    }
    counts
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
    fn errors_render_as_in_the_contract() {
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
