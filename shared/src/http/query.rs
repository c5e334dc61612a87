//! Query strings: the filter delete's filter and the read API's listing
//! (docs/contracts.md#delete-by-filter, docs/contracts.md#read-users).

use lambda_http::Request;
use lambda_http::RequestExt;

use crate::config::{CursorKey, Limits};
use crate::domain::filter::{
    DRY_RUN, Filter, FilterError, FilterRequest, boolean, invalid, query_pairs,
};
use crate::domain::{LinkId, Timestamp};
use crate::http::cursor::{self, Binding};
use crate::http::error::RequestError;
use crate::service::filter_plan::Scope;
use crate::service::read::{DEFAULT_LIMIT, Listing, MAX_LIMIT, Position, Segment};

/// A filter delete as sent: the filter, where a previous run of it stopped (its
/// `cursor`), and what the next cursor is bound to.
#[derive(Clone, Debug)]
pub struct FilterDelete {
    /// The filter and `dry_run`.
    pub request: FilterRequest,
    /// The scan positions of the previous run's `cursor`, if one was sent.
    pub resume: Option<Vec<Segment>>,
    /// Every parameter but `cursor`, `dry_run` included: a cursor continues only the
    /// request that made it.
    pub binding: Binding,
}

/// Parses `DELETE /api/v1/users?<filter>&dry_run=&cursor=`; relative times (`now-90d`)
/// are taken from now. A `cursor` must be one this filter delete answered.
pub fn filter_request(
    req: &Request,
    limits: &Limits,
    key: &CursorKey,
) -> Result<FilterDelete, RequestError> {
    let pairs = query_pairs(req.uri().query().unwrap_or_default());
    let (cursors, rest): (Vec<_>, Vec<_>) = pairs.iter().partition(|(k, _)| k == "cursor");
    let request = FilterRequest::parse(
        rest.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        Timestamp::now(),
        limits.max_items,
    )
    .map_err(RequestError::Filter)?;
    let binding = Binding::of(rest.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let resume = match cursors.as_slice() {
        [] => None,
        [(_, sealed)] => match cursor::open(key, &binding, sealed) {
            Some(Position::Scan { segments }) => Some(segments),
            _ => return Err(foreign_filter_cursor()),
        },
        _ => return Err(invalid("cursor", "given more than once").into()),
    };
    Ok(FilterDelete {
        request,
        resume,
        binding,
    })
}

/// The refusal of a cursor that is not the `cursor` of an answer of this filter delete.
pub fn foreign_filter_cursor() -> RequestError {
    invalid(
        "cursor",
        "expected the cursor of the previous answer of this filter delete",
    )
    .into()
}

/// Seals where a filter delete's scan stopped, for the client to send back.
pub fn filter_cursor(key: &CursorKey, binding: &Binding, segments: Vec<Segment>) -> String {
    cursor::seal(key, binding, &Position::Scan { segments })
}

/// The parameters of a listing that are not part of what it lists: a cursor stays
/// valid when they change.
const PAGING: [&str; 3] = ["cursor", "limit", "include"];

/// What a read request names: one user, or a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadTarget {
    /// `GET /api/v1/users/{link_id}`; `None`: not a UUID, so no such user.
    One(Option<LinkId>),
    /// `GET /api/v1/users`.
    List,
}

/// Which read a request is: the `link_id` path parameter (API Gateway), else the last
/// segment of a path below `/users/` (`/users/` itself names no user).
pub fn read_target(req: &Request) -> ReadTarget {
    let params = req.path_parameters();
    let from_path = req
        .uri()
        .path()
        .rsplit_once('/')
        .filter(|(head, _)| head.ends_with("/users"))
        .map(|(_, id)| id.to_owned());
    match params.first("link_id").map(str::to_owned).or(from_path) {
        Some(id) => ReadTarget::One(uuid::Uuid::try_parse(&id).ok().map(LinkId::from)),
        None => ReadTarget::List,
    }
}

/// `include=face_images`, the one parameter of a read by id.
pub fn read_one_request(req: &Request) -> Result<bool, RequestError> {
    let pairs = query_pairs(req.uri().query().unwrap_or_default());
    let mut faces = None;
    for (k, v) in &pairs {
        match k.as_str() {
            "include" if faces.is_none() => faces = Some(include(k, v)?),
            "include" => return Err(invalid(k, "given more than once").into()),
            other => return Err(FilterError::Unknown(other.to_owned()).into()),
        }
    }
    Ok(faces.unwrap_or(false))
}

fn include(param: &str, value: &str) -> Result<bool, FilterError> {
    match value.trim() {
        "face_images" => Ok(true),
        _ => Err(invalid(param, "expected face_images")),
    }
}

/// `dry_run=true` on a bulk endpoint: answer what the request would do now, write
/// nothing (docs/contracts.md#dry-runs). The endpoints' other query parameters are
/// ignored, as they always were.
pub fn dry_run(req: &Request) -> Result<bool, RequestError> {
    let pairs = query_pairs(req.uri().query().unwrap_or_default());
    let mut found = None;
    for (k, v) in pairs.iter().filter(|(k, _)| k == DRY_RUN) {
        if found.is_some() {
            return Err(invalid(k, "given more than once").into());
        }
        found = Some(boolean(k, v.trim())?);
    }
    Ok(found.unwrap_or(false))
}

/// The refusal of a cursor that is not the `next_cursor` of a page of this listing.
pub fn foreign_cursor() -> RequestError {
    invalid(
        "cursor",
        "expected the next_cursor of the previous page of this listing",
    )
    .into()
}

/// A listing and what its cursors are bound to.
#[derive(Clone, Debug)]
pub struct ListQuery {
    /// The listing.
    pub listing: Listing,
    /// Its parameters' binding, to seal the next cursor with.
    pub binding: Binding,
}

/// Parses `GET /api/v1/users?<filter>&limit=&cursor=&include_deleted=&include=`: the
/// filter delete's thirteen parameters (none: every user), `limit` (1 to 1000, default
/// 100), the `next_cursor` of the previous page, `include_deleted` and
/// `include=face_images`.
pub fn list_request(
    req: &Request,
    limits: &Limits,
    key: &CursorKey,
) -> Result<ListQuery, RequestError> {
    let pairs = query_pairs(req.uri().query().unwrap_or_default());
    let mut limit = DEFAULT_LIMIT;
    let mut sealed = None;
    let mut scope = Scope::Live;
    let mut faces = false;
    let filter = Filter::parse_with(
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        Timestamp::now(),
        limits.max_items,
        |k, v| {
            match k {
                "limit" => {
                    limit = v
                        .trim()
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| invalid(k, "expected an integer from 1 to 1000"))?;
                }
                "cursor" => sealed = Some(v.to_owned()),
                "include_deleted" => {
                    if boolean(k, v.trim())? {
                        scope = Scope::WithDeleted;
                    }
                }
                "include" => faces = include(k, v)?,
                _ => return Ok(false),
            }
            Ok(true)
        },
    )?;
    let binding = Binding::of(
        pairs
            .iter()
            .filter(|(k, _)| !PAGING.contains(&k.as_str()))
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    let start = match sealed {
        None => None,
        Some(c) => Some(cursor::open(key, &binding, &c).ok_or_else(foreign_cursor)?),
    };
    Ok(ListQuery {
        listing: Listing {
            filter,
            scope,
            limit,
            with_faces: faces,
            start,
        },
        binding,
    })
}
