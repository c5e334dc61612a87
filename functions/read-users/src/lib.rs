//! `GET /api/v1/users/{link_id}` and `GET /api/v1/users?<filter>`: the read API
//! (docs/contracts.md#read-users), in the `{"error": ...}` dialect.

use lambda_http::{Body, Error, Request, Response};
use shared::app::App;
use shared::http::cursor;
use shared::http::dialect::read::{Read, ReadAnswer};
use shared::http::pipeline::{Endpoint, Failure};
use shared::http::query::{self, ReadTarget};
use shared::service::read::{ListError, get_user, list_users};

const GET_USER: Endpoint<Read> = Endpoint::reading("get_user");
const LIST_USERS: Endpoint<Read> = Endpoint::reading("list_users");

/// Handles one request; every client mistake is a 4xx in the endpoint's dialect.
pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    let response = match query::read_target(&req) {
        ReadTarget::One(id) => {
            GET_USER
                .serve(
                    app,
                    &req,
                    |req, _| query::read_one_request(req),
                    |_, faces, deadline| async move {
                        let id = id.ok_or(Failure::NotFound)?;
                        let user = get_user(&app.store, id, &deadline).await?;
                        let user = Box::new(user.ok_or(Failure::NotFound)?);
                        Ok(ReadAnswer::User { user, faces })
                    },
                )
                .await
        }
        ReadTarget::List => {
            LIST_USERS
                .serve(
                    app,
                    &req,
                    |req, _| query::list_request(req, &app.config.limits, &app.config.cursor_key),
                    |_, q, deadline| async move {
                        let page = list_users(&app.store, &q.listing, &deadline)
                            .await
                            .map_err(|e| match e {
                                ListError::ForeignPosition => {
                                    Failure::Refused(query::foreign_cursor())
                                }
                                ListError::Store(e) => Failure::Store(e),
                            })?;
                        let key = &app.config.cursor_key;
                        Ok(ReadAnswer::Page {
                            users: page.users,
                            next_cursor: page.next.map(|p| cursor::seal(key, &q.binding, &p)),
                            faces: q.listing.with_faces,
                        })
                    },
                )
                .await
        }
    };
    Ok(response)
}
