//! `DELETE /api/v1/users/bulk`: the hard delete (docs/contracts.md#delete-users), in the
//! error-string dialect.

use lambda_http::{Body, Error, Request, Response};
use shared::app::App;
use shared::http::body::bulk;
use shared::http::dialect::plain::Plain;
use shared::http::pipeline::Endpoint;
use shared::service::removal;

const DELETE: Endpoint<Plain> = Endpoint::new("delete");

/// Handles one request; every client mistake is a 4xx in the endpoint's dialect.
pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    Ok(DELETE
        .serve_or_dry_run(
            app,
            &req,
            |req, _| bulk::link_ids(req.body().as_ref(), &app.config.limits),
            |store, who, ids, deadline| async move {
                Ok(removal::delete_users(&store, &ids, &who.subject, deadline).await?)
            },
        )
        .await)
}
