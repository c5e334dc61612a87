//! The `{"error": "..."}` dialect of seeds 000/001/002, with `{"result": [...]}` answers.

use http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::json;

use crate::error::RequestError;
use crate::outcome::{BulkResult, ItemOutcome};
use crate::web::json_response;

/// A request-level error: `{"error": "<text>"}` with its status.
pub fn error(err: &RequestError) -> Response<Body> {
    json_response(err.status(), &json!({ "error": err.to_string() }))
}

/// The 200 answer: `{"result": [...]}`, one entry per item in request order.
pub fn bulk(outcomes: &[ItemOutcome]) -> Response<Body> {
    json_response(StatusCode::OK, &BulkResult { result: outcomes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::AuthError;
    use crate::json::{BodyError, JsonPath};

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
