//! `DELETE /api/v1/users?<filter>`: the filter delete (docs/contracts.md#delete-by-filter),
//! in the filter dialect.

use lambda_http::{Body, Error, Request, Response};
use shared::app::App;
use shared::http::dialect::filter::FilterDialect;
use shared::http::pipeline::{Endpoint, Failure};
use shared::http::query;
use shared::service::filter_delete::{FilterDeleteError, delete_by_filter};

const FILTER_DELETE: Endpoint<FilterDialect> = Endpoint::new("filter_delete");

/// Handles one request; every client mistake is a 4xx in the endpoint's dialect.
pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    Ok(FILTER_DELETE
        .serve(
            app,
            &req,
            |req, _| query::filter_request(req, &app.config.limits, &app.config.cursor_key),
            |who, sent, deadline| async move {
                let query::FilterDelete {
                    request,
                    resume,
                    binding,
                } = sent;
                let mut run =
                    delete_by_filter(&app.store, &request, resume, &who.subject, deadline)
                        .await
                        .map_err(|e| match e {
                            FilterDeleteError::UserNotFound => Failure::NotFound,
                            FilterDeleteError::Store(e) => Failure::Store(e),
                        })?;
                run.cursor = run.resume.take().map(|segments| {
                    query::filter_cursor(&app.config.cursor_key, &binding, segments)
                });
                Ok(run)
            },
        )
        .await)
}
