//! `POST /api/v1/users/bulk/delete`: the HTTP adapter of soft delete and restore
//! (seed 003), answering a `Result` in JSON or XML.

use lambda_http::{Body, Error, Request, Response};
use shared::app::App;
use shared::http::dialect::result;
use shared::service::removal::{self, Removal};

/// Handles one request; every client mistake is a 4xx `Result` in the negotiated format.
pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    let service = |who: shared::auth::Principal,
                   input: shared::http::body::delete_or_restore::DeleteOrRestore,
                   deadline| async move {
        let removal = if input.deleted {
            Removal::SoftDelete { state: input.state }
        } else {
            Removal::Restore { state: input.state }
        };
        let outcomes =
            removal::apply_removal(&app.store, &input.ids, removal, &who.subject, deadline).await?;
        Ok(result::removal_result(&input.ids, &outcomes, input.deleted))
    };
    Ok(result::serve(app, &req, "delete_or_restore", service).await)
}
