//! `DELETE /api/v1/users/bulk`: the HTTP adapter of the hard delete (seed 000), answering
//! in the `{"error": ...}` dialect.

use lambda_http::{Body, Error, Request, Response};
use shared::app::App;
use shared::http::dialect::plain;
use shared::service::removal;

/// Handles one request; every client mistake is a 4xx in the endpoint's dialect.
pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    Ok(plain::serve(
        app,
        &req,
        "delete",
        shared::http::body::bulk::link_ids,
        |who, ids, deadline| async move {
            removal::delete_users(&app.store, &ids, &who.subject, deadline).await
        },
    )
    .await)
}
