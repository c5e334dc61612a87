//! `POST /api/v1/users/bulk/delete`: soft delete and restore
//! (docs/contracts.md#soft-delete-and-restore), JSON or XML in and out, in the `Result`
//! dialect.

use lambda_http::{Body, Error, Request, Response};
use shared::app::App;
use shared::http::body::delete_or_restore;
use shared::http::dialect::result::{ResultDialect, removal_result};
use shared::http::pipeline::Endpoint;
use shared::service::removal::{self, Removal};

const DELETE_OR_RESTORE: Endpoint<ResultDialect> = Endpoint::new("delete_or_restore");

/// Handles one request; every client mistake is a 4xx `Result` in the negotiated format.
pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    Ok(DELETE_OR_RESTORE
        .serve_or_dry_run(
            app,
            &req,
            |req, dialect| {
                delete_or_restore::parse(req.body().as_ref(), dialect.body, &app.config.limits)
            },
            |store, who, input, deadline| async move {
                let removal = if input.deleted {
                    Removal::SoftDelete { state: input.state }
                } else {
                    Removal::Restore { state: input.state }
                };
                let outcomes =
                    removal::apply_removal(&store, &input.ids, removal, &who.subject, deadline)
                        .await?;
                Ok(removal_result(&input.ids, &outcomes, input.deleted))
            },
        )
        .await)
}
