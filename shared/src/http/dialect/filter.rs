//! The filter dialect (delete by filter, docs/contracts.md#filter-dialect): errors as
//! `{"error_type": ..., "success": false, "error": {"message", "code", "reason"}}`, a
//! missing user as `{"error_type": "Object not found error", "success": false}`.
//!
//! | status | error_type | code | reason | when |
//! | --- | --- | --- | --- | --- |
//! | 401 | unauthenticated_error | 110 | auth_token_not_provided | no token (contract text) |
//! | 401 | unauthenticated_error | 111 | auth_token_invalid | bad signature, algorithm, issuer, audience, not a JWT |
//! | 401 | unauthenticated_error | 112 | auth_token_expired | past `exp` |
//! | 403 | permission_error | 120 | admin_rights_required | a valid token without the admin role |
//! | 400 | validation_error | 130 | invalid_parameter | a value that does not parse, or given twice |
//! | 400 | validation_error | 131 | unknown_parameter | a parameter that is not a filter |
//! | 400 | validation_error | 132 | filter_required | no filter at all |
//! | 400 | validation_error | 133 | invalid_idempotency_key | an `Idempotency-Key` that is empty, too long or not visible ASCII |
//! | 422 | validation_error | 134 | idempotency_key_reused | an `Idempotency-Key` already used for a different request |
//! | 409 | conflict_error | 140 | request_in_progress | the request with this `Idempotency-Key` is still running |
//! | 404 | Object not found error | — | — | `user_id` names no user |
//! | 503 | service_unavailable | 150 | service_unavailable | DynamoDB failed before anything was deleted |

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

use crate::auth::AuthError;
use crate::domain::filter::FilterError;
use crate::http::error::RequestError;
use crate::http::idempotency::Refusal;
use crate::http::pipeline::Dialect;
use crate::http::web::{self, json_response};
use crate::metrics::Metrics;
use crate::service::filter_delete::FilterRun;
use crate::store::calls::CallCounts;

/// A request-level error in this dialect.
pub fn error(err: &RequestError) -> Response<Body> {
    let (error_type, code, reason, message) = match err {
        RequestError::NotFound => {
            return json_response(
                StatusCode::NOT_FOUND,
                &json!({"error_type": "Object not found error", "success": false}),
            );
        }
        RequestError::Unauthenticated(AuthError::MissingToken) => (
            "unauthenticated_error",
            110,
            "auth_token_not_provided",
            "No header X-Auth-Token present".to_owned(),
        ),
        RequestError::Unauthenticated(AuthError::Expired) => (
            "unauthenticated_error",
            112,
            "auth_token_expired",
            "X-Auth-Token expired".to_owned(),
        ),
        RequestError::Unauthenticated(AuthError::Invalid) => (
            "unauthenticated_error",
            111,
            "auth_token_invalid",
            "Invalid X-Auth-Token".to_owned(),
        ),
        RequestError::Forbidden => (
            "permission_error",
            120,
            "admin_rights_required",
            err.to_string(),
        ),
        RequestError::Filter(f) => {
            let (code, reason) = match f {
                FilterError::Invalid { .. } => (130, "invalid_parameter"),
                FilterError::Unknown(_) => (131, "unknown_parameter"),
                FilterError::NoFilter => (132, "filter_required"),
            };
            ("validation_error", code, reason, f.to_string())
        }
        RequestError::Idempotency(r) => {
            let (error_type, code, reason) = match r {
                Refusal::Invalid => ("validation_error", 133, "invalid_idempotency_key"),
                Refusal::Mismatch => ("validation_error", 134, "idempotency_key_reused"),
                Refusal::InProgress => ("conflict_error", 140, "request_in_progress"),
            };
            (error_type, code, reason, r.to_string())
        }
        RequestError::Unavailable => (
            "service_unavailable",
            150,
            "service_unavailable",
            err.to_string(),
        ),
        other => (
            "validation_error",
            130,
            "invalid_request",
            other.to_string(),
        ),
    };
    let body = json!({
        "error_type": error_type,
        "success": false,
        "error": {"message": message, "code": code, "reason": reason},
    });
    web::with_retry_after(json_response(err.status(), &body))
}

/// The 200 answer: what was deleted (or would be, for a dry run) and whether more remain.
pub fn success(run: &FilterRun) -> Response<Body> {
    json_response(StatusCode::OK, &success_body(run))
}

/// The body of [`success`] (also logged by the scheduled clean-up).
pub fn success_body(run: &FilterRun) -> Value {
    let ids = if run.dry_run {
        &run.sample
    } else {
        &run.deleted
    };
    let mut body = json!({
        "success": true,
        "dry_run": run.dry_run,
        "matched": run.matched,
        "deleted": run.deleted.len(),
        "not_deleted": run.not_deleted,
        "ids": ids,
        "remaining": run.remaining,
        "cursor": run.cursor,
    });
    if run.dry_run {
        body["ids_truncated"] = json!(run.sample.len() < run.matched);
    }
    body
}

/// The dialect of the filter delete: every refusal is
/// `{"error_type", "success": false, "error": {"message", "code", "reason"}}`, a missing
/// user `{"error_type": "Object not found error", "success": false}`.
#[derive(Clone, Copy, Debug)]
pub struct FilterDialect;

impl Dialect for FilterDialect {
    type Answer = FilterRun;

    fn negotiate(_req: &Request) -> (Self, Result<(), RequestError>) {
        (FilterDialect, Ok(()))
    }

    fn error(&self, err: &RequestError) -> Response<Body> {
        error(err)
    }

    fn success(&self, run: &FilterRun) -> Response<Body> {
        success(run)
    }

    fn nothing_applied(&self, run: &FilterRun) -> bool {
        run.failed_outright()
    }

    /// `filter_matched`, `items_deleted`, `items_not_processed` (not confirmed in time),
    /// `filter_remaining` (1 when the run stopped at its deadline); a dry run only
    /// `filter_matched` and `dry_runs`.
    fn metrics(&self, run: &FilterRun, metrics: &mut Metrics) {
        metrics.add_count("filter_matched", run.matched);
        if run.dry_run {
            metrics.add("dry_runs", 1);
            return;
        }
        metrics
            .add_count("items_deleted", run.deleted.len())
            .add_count("items_not_processed", run.not_processed)
            .add("filter_remaining", u64::from(run.remaining));
    }

    fn log_done(&self, operation: &str, run: &FilterRun, calls: &CallCounts) {
        tracing::info!(
            operation,
            dry_run = run.dry_run,
            matched = run.matched,
            deleted = run.deleted.len(),
            not_deleted = run.not_deleted,
            remaining = run.remaining,
            dynamodb_calls = %calls,
            "filter delete done"
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
    fn a_missing_token_answers_exactly_as_the_contract_says() {
        let r = error(&RequestError::Unauthenticated(AuthError::MissingToken));
        assert_eq!(r.status(), 401);
        assert_eq!(
            body(&r),
            json!({"error_type": "unauthenticated_error", "success": false,
                   "error": {"message": "No header X-Auth-Token present", "code": 110,
                             "reason": "auth_token_not_provided"}})
        );
        let r = error(&RequestError::NotFound);
        assert_eq!(r.status(), 404);
        assert_eq!(
            body(&r),
            json!({"error_type": "Object not found error", "success": false})
        );
    }

    #[test]
    fn every_error_keeps_the_shape() {
        for err in [
            RequestError::Unauthenticated(AuthError::Expired),
            RequestError::Unauthenticated(AuthError::Invalid),
            RequestError::Forbidden,
            RequestError::Filter(FilterError::NoFilter),
            RequestError::Filter(FilterError::Unknown("x".into())),
            RequestError::Unavailable,
        ] {
            let b = body(&error(&err));
            assert_eq!(b["success"], false);
            assert!(b["error_type"].is_string());
            assert!(b["error"]["code"].is_u64() && b["error"]["reason"].is_string());
            assert!(b["error"]["message"].is_string());
        }
    }
}
