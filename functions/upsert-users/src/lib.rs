//! `POST /api/v1/users/bulk`: the HTTP adapter of the upsert service (seeds 001/002),
//! answering in the `{"error": ...}` dialect.

use lambda_http::{Body, Error, Request, Response};
use shared::app::App;
use shared::http::dialect::plain;
use shared::service::upsert;

/// Handles one request; every client mistake is a 4xx in the endpoint's dialect.
pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    let service = |who: shared::auth::Principal, items, deadline| async move {
        let limits = &app.config.limits;
        upsert::upsert_users(&app.store, limits, &who.subject, deadline, items).await
    };
    Ok(plain::serve(
        app,
        &req,
        "upsert",
        shared::http::body::bulk::upsert_items,
        service,
    )
    .await)
}
