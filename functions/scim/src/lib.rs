//! `/scim/v2`: the SCIM 2.0 service provider (docs/contracts.md#scim), in the SCIM
//! dialect. One function serves every SCIM route; each route is an endpoint of the
//! shared pipeline (deadline, admin check, body, `Idempotency-Key` for writes, the
//! service, one log line, the answer).

use http::StatusCode;
use http::header::{ETAG, LOCATION};
use lambda_http::{Body, Error, Request, Response};
use serde_json::Value;
use shared::app::App;
use shared::deadline::Deadline;
use shared::domain::LinkId;
use shared::domain::scim::patch;
use shared::domain::scim::schema::UserAttributes;
use shared::domain::scim::user::ScimUser;
use shared::http::dialect::scim::{Scim, ScimAnswer};
use shared::http::error::RequestError;
use shared::http::pipeline::{Endpoint, Failure};
use shared::http::scim::{
    Projection, Query, Route, base_url, bulk_request, bulk_response, check_schemas, list_of,
    refuse, route, schemas, service_provider_config, user_page, user_resource, user_resource_type,
};
use shared::http::web;
use shared::service::scim::{self as users, ScimFailure, etag, if_match};
use shared::service::scim_bulk;
use shared::store::records::UserRecord;

const DISCOVERY: Endpoint<Scim> = Endpoint::reading("scim_discovery");
const REFUSED: Endpoint<Scim> = Endpoint::reading("scim_refused");
const GET_USER: Endpoint<Scim> = Endpoint::reading("scim_get_user");
const LIST_USERS: Endpoint<Scim> = Endpoint::reading("scim_list_users");
const CREATE_USER: Endpoint<Scim> = Endpoint::new("scim_create_user");
const REPLACE_USER: Endpoint<Scim> = Endpoint::new("scim_replace_user");
const PATCH_USER: Endpoint<Scim> = Endpoint::new("scim_patch_user");
const DELETE_USER: Endpoint<Scim> = Endpoint::new("scim_delete_user");
const BULK: Endpoint<Scim> = Endpoint::new("scim_bulk");

/// Handles one request; every answer, refusals included, is SCIM.
pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    let base = base_url(&req);
    let base = base.as_str();
    let response = match route(&req) {
        Route::ServiceProviderConfig => {
            let doc = service_provider_config(base, &app.config.limits);
            discovery(app, &req, move || Ok(doc)).await
        }
        Route::Schemas => {
            let docs = list_of(schemas(base));
            discovery(app, &req, move || Ok(docs)).await
        }
        Route::Schema(id) => {
            let doc = schemas(base).into_iter().find(|s| s["id"] == id.as_str());
            discovery(app, &req, move || {
                doc.ok_or_else(|| not_found("Schema", &id))
            })
            .await
        }
        Route::ResourceTypes => {
            let docs = list_of(vec![user_resource_type(base)]);
            discovery(app, &req, move || Ok(docs)).await
        }
        Route::ResourceType(id) => {
            let doc = (id == "User").then(|| user_resource_type(base));
            discovery(app, &req, move || {
                doc.ok_or_else(|| not_found("ResourceType", &id))
            })
            .await
        }
        Route::NotFound => {
            let path = req.uri().path().to_owned();
            refused(
                app,
                &req,
                refuse(404, None, format!("No resource at {path}")),
            )
            .await
        }
        Route::MethodNotAllowed => {
            let method = req.method().to_string();
            refused(
                app,
                &req,
                refuse(405, None, format!("{method} is not supported here")),
            )
            .await
        }
        Route::Bulk => {
            Box::pin(BULK.serve(
                app,
                &req,
                |req, _| bulk_request(req, &app.config.limits),
                |who, bulk, deadline| async move {
                    let done = scim_bulk::run(
                        &app.store,
                        &app.config.limits,
                        &who.subject,
                        deadline,
                        bulk.operations,
                        bulk.fail_on_errors,
                    )
                    .await?;
                    Ok(ScimAnswer::ok(bulk_response(&done, base)))
                },
            ))
            .await
        }
        Route::GetUser(id) => {
            Box::pin(GET_USER.serve(
                app,
                &req,
                |req, _| Ok((LinkId::parse(&id), Query::from_request(req)?.projection)),
                |_, (id, projection), deadline| async move {
                    let id = id.ok_or(Failure::NotFound)?;
                    let user = users::get(&app.store, id, &deadline)
                        .await
                        .map_err(failure)?;
                    Ok(resource(&user, base, &projection, StatusCode::OK))
                },
            ))
            .await
        }
        Route::ListUsers | Route::Search => {
            let search = route(&req) == Route::Search;
            Box::pin(LIST_USERS.serve(
                app,
                &req,
                |req, _| {
                    if search {
                        Query::from_search(&json_body(req, app)?)
                    } else {
                        Query::from_request(req)
                    }
                },
                |_, q, deadline| async move {
                    let page = users::list(
                        &app.store,
                        q.filter.as_ref(),
                        q.start_index,
                        q.count,
                        &deadline,
                    )
                    .await
                    .map_err(failure)?;
                    let resources = page
                        .users
                        .iter()
                        .map(|u| user_resource(u, base, &q.projection))
                        .collect();
                    Ok(ScimAnswer::ok(user_page(
                        page.total,
                        q.start_index,
                        resources,
                    )))
                },
            ))
            .await
        }
        Route::CreateUser => {
            Box::pin(CREATE_USER.serve(
                app,
                &req,
                |req, _| scim_user(&json_body(req, app)?),
                |who, user, deadline| async move {
                    let id = LinkId::new_random();
                    let limits = &app.config.limits;
                    let written =
                        users::write(&app.store, limits, &who.subject, deadline, id, &user, None)
                            .await
                            .map_err(failure)?;
                    let answer =
                        resource(&written, base, &Projection::default(), StatusCode::CREATED);
                    Ok(answer.with(LOCATION, format!("{base}/Users/{}", written.link_id)))
                },
            ))
            .await
        }
        Route::ReplaceUser(id) => {
            let precondition = if_match_header(&req);
            Box::pin(REPLACE_USER.serve(
                app,
                &req,
                |req, _| Ok((LinkId::parse(&id), scim_user(&json_body(req, app)?)?)),
                |who, (id, user), deadline| async move {
                    let when = precondition.as_deref();
                    rewrite(app, &who.subject, deadline, id, when, base, |_| Ok(user)).await
                },
            ))
            .await
        }
        Route::PatchUser(id) => {
            let precondition = if_match_header(&req);
            Box::pin(PATCH_USER.serve(
                app,
                &req,
                |req, _| {
                    let ops = json_body(req, app)?;
                    check_schemas(&ops)?;
                    Ok((LinkId::parse(&id), ops))
                },
                |who, (id, ops), deadline| async move {
                    let when = precondition.as_deref();
                    rewrite(app, &who.subject, deadline, id, when, base, |existing| {
                        let mut edited = users::to_resource(existing, true);
                        patch::apply(&ops, &mut edited, &UserAttributes).map_err(|e| {
                            Failure::Refused(refuse(400, Some(e.scim_type), e.detail))
                        })?;
                        scim_user(&Value::Object(edited)).map_err(Failure::Refused)
                    })
                    .await
                },
            ))
            .await
        }
        Route::DeleteUser(id) => {
            Box::pin(DELETE_USER.serve(
                app,
                &req,
                |_, _| Ok(LinkId::parse(&id)),
                |who, id, deadline| async move {
                    let id = id.ok_or(Failure::NotFound)?;
                    users::delete(&app.store, &who.subject, deadline, id)
                        .await
                        .map_err(failure)?;
                    Ok(ScimAnswer::no_content())
                },
            ))
            .await
        }
    };
    Ok(response)
}

/// A PUT or PATCH: the live user `id` is read, checked against `If-Match`, edited into
/// the user `user_of` makes of it, and written at the version read (one read, one
/// conditional write).
async fn rewrite(
    app: &App,
    actor: &str,
    deadline: Deadline,
    id: Option<LinkId>,
    precondition: Option<&str>,
    base: &str,
    user_of: impl FnOnce(&UserRecord) -> Result<ScimUser, Failure>,
) -> Result<ScimAnswer, Failure> {
    let id = id.ok_or(Failure::NotFound)?;
    let existing = users::get(&app.store, id, &deadline)
        .await
        .map_err(failure)?;
    check_version(precondition, &existing)?;
    let user = user_of(&existing)?;
    let limits = &app.config.limits;
    let written = users::write(
        &app.store,
        limits,
        actor,
        deadline,
        id,
        &user,
        Some(existing),
    )
    .await
    .map_err(failure)?;
    Ok(resource(
        &written,
        base,
        &Projection::default(),
        StatusCode::OK,
    ))
}

/// A discovery document (static once built), for an administrator.
async fn discovery(
    app: &App,
    req: &Request,
    doc: impl FnOnce() -> Result<Value, RequestError>,
) -> Response<Body> {
    // Boxed, like every route's pipeline: inline, the routes' futures together outgrow
    // a test thread's stack.
    Box::pin(DISCOVERY.serve(
        app,
        req,
        |_, _| doc(),
        |_, doc, _| async move { Ok(ScimAnswer::ok(doc)) },
    ))
    .await
}

/// A request refused whatever it carries, after the caller is checked (so an
/// unauthenticated probe learns nothing but 401).
async fn refused(app: &App, req: &Request, err: RequestError) -> Response<Body> {
    Box::pin(REFUSED.serve(
        app,
        req,
        |_, _| Err::<(), _>(err),
        |_, (), _| async move { Ok(ScimAnswer::no_content()) },
    ))
    .await
}

fn not_found(kind: &str, id: &str) -> RequestError {
    refuse(404, None, format!("{kind} {id} not found"))
}

fn json_body(req: &Request, app: &App) -> Result<Value, RequestError> {
    let body = web::body_within(req, app.config.limits.max_body_bytes)?;
    serde_json::from_slice(body)
        .map_err(|_| refuse(400, Some("invalidSyntax"), "The body is not valid JSON"))
}

fn scim_user(body: &Value) -> Result<ScimUser, RequestError> {
    ScimUser::from_json(body).map_err(|e| refuse(400, Some(e.scim_type), e.detail))
}

fn if_match_header(req: &Request) -> Option<String> {
    req.headers()
        .get(http::header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn check_version(header: Option<&str>, user: &UserRecord) -> Result<(), Failure> {
    match header {
        Some(h) if !if_match(h, user) => Err(Failure::Refused(refuse(
            412,
            None,
            format!("The user is at version {}; read it again", etag(user)),
        ))),
        _ => Ok(()),
    }
}

fn resource(
    user: &UserRecord,
    base: &str,
    projection: &Projection,
    status: StatusCode,
) -> ScimAnswer {
    let mut answer = ScimAnswer::ok(user_resource(user, base, projection));
    answer.status = status;
    answer.with(ETAG, etag(user))
}

fn failure(e: ScimFailure) -> Failure {
    match e {
        ScimFailure::NotFound => Failure::Refused(refuse(404, None, "User not found")),
        ScimFailure::Taken(detail) => Failure::Refused(refuse(409, Some("uniqueness"), detail)),
        ScimFailure::Invalid { scim_type, detail } => {
            Failure::Refused(refuse(400, Some(scim_type), detail))
        }
        ScimFailure::Unavailable => Failure::Refused(RequestError::Unavailable),
        ScimFailure::Store(e) => Failure::Store(e),
    }
}
