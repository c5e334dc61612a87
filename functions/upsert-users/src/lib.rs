//! `POST /api/v1/users/bulk`: the HTTP adapter of the upsert service (seeds 001/002).
//! Parse, authenticate, call [`shared::upsert`], answer in the `{"error": ...}` dialect.

use lambda_http::{Body, Error, Request, Response};
use shared::app::App;
use shared::dialect::plain;
use shared::error::RequestError;
use shared::outcome::ExtendedInfo;
use shared::{upsert, web};

/// Handles one request; every client mistake is a 4xx in the endpoint's dialect.
pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    let deadline = web::deadline(&req, &app.config);
    let principal = match web::require_admin(&req, &app.config.auth) {
        Ok(p) => p,
        Err(e) => return Ok(plain::error(&e)),
    };
    let items = match upsert::parse_request(req.body().as_ref(), &app.config.limits) {
        Ok(items) => items,
        Err(e) => return Ok(plain::error(&e)),
    };
    let before = app.calls.snapshot();
    let received = items.len();
    let result = upsert::upsert_users(
        &app.store,
        &app.config.limits,
        &principal.subject,
        deadline,
        items,
    )
    .await;
    let calls = app.calls.snapshot().since(&before);
    match result {
        Ok(outcomes) => {
            let count = |i: ExtendedInfo| outcomes.iter().filter(|o| o.info == i).count();
            tracing::info!(
                received,
                created = count(ExtendedInfo::Created),
                updated = count(ExtendedInfo::Updated),
                failed = outcomes.iter().filter(|o| !o.info.is_success()).count(),
                not_processed = count(ExtendedInfo::NotProcessed),
                dynamodb_calls = %calls,
                "upsert done"
            );
            Ok(plain::bulk(&outcomes))
        }
        Err(e) => {
            tracing::error!(error = ?e, dynamodb_calls = %calls, "upsert failed before writing");
            Ok(plain::error(&RequestError::Unavailable))
        }
    }
}
