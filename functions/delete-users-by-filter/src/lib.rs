//! `DELETE /api/v1/users?<filter>`: the HTTP adapter of the filter delete (seed 004),
//! answering in that seed's own error dialect.

use lambda_http::{Body, Error, Request, Response};
use shared::app::App;
use shared::http::dialect::filter;

/// Handles one request; every client mistake is a 4xx in the endpoint's dialect.
pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    Ok(filter::serve(app, &req).await)
}
