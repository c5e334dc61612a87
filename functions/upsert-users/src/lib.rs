//! `POST /api/v1/users/bulk`: the upsert (docs/contracts.md#upsert-users), in the
//! error-string dialect.

use lambda_http::{Body, Error, Request, Response};
use shared::app::App;
use shared::http::body::bulk;
use shared::http::dialect::plain::Plain;
use shared::http::pipeline::Endpoint;
use shared::service::upsert;

const UPSERT: Endpoint<Plain> = Endpoint::new("upsert");

/// Handles one request; every client mistake is a 4xx in the endpoint's dialect.
pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    let limits = &app.config.limits;
    Ok(UPSERT
        .serve_or_dry_run(
            app,
            &req,
            |req, _| bulk::upsert_items(req.body().as_ref(), limits),
            |store, who, items, deadline| async move {
                Ok(upsert::upsert_users(&store, limits, &who.subject, deadline, items).await?)
            },
        )
        .await)
}
