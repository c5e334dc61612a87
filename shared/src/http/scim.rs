//! The SCIM 2.0 service provider's HTTP side (docs/contracts.md#scim): which operation a
//! request is, the discovery documents, the query parameters of listings, and the User
//! resource as answered (`meta`, `attributes`/`excludedAttributes`).

use lambda_http::Request;
use serde_json::{Map, Value, json};

use crate::config::Limits;
use crate::domain::filter::query_pairs;
use crate::domain::scim::filter::ScimFilter;
use crate::domain::scim::schema::{self, ACCESS_USER, CORE_USER};
use crate::http::error::RequestError;
use crate::service::scim::{DEFAULT_COUNT, MAX_COUNT, etag, to_resource};
use crate::service::scim_bulk::{Done, Method, Operation};
use crate::store::records::UserRecord;

/// The path every SCIM route starts with.
pub const PREFIX: &str = "/scim/v2";
/// The schema of list answers.
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// The schema of search requests.
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// What a request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `GET /ServiceProviderConfig`.
    ServiceProviderConfig,
    /// `GET /Schemas`.
    Schemas,
    /// `GET /Schemas/{id}`.
    Schema(String),
    /// `GET /ResourceTypes`.
    ResourceTypes,
    /// `GET /ResourceTypes/{id}`.
    ResourceType(String),
    /// `GET /Users`.
    ListUsers,
    /// `POST /Users/.search` or `POST /.search`.
    Search,
    /// `POST /Users`.
    CreateUser,
    /// `GET /Users/{id}`.
    GetUser(String),
    /// `PUT /Users/{id}`.
    ReplaceUser(String),
    /// `PATCH /Users/{id}`.
    PatchUser(String),
    /// `DELETE /Users/{id}`.
    DeleteUser(String),
    /// `POST /Bulk`.
    Bulk,
    /// A known path with a method it does not take (405).
    MethodNotAllowed,
    /// Anything else (404).
    NotFound,
}

/// The route of `req`.
pub fn route(req: &Request) -> Route {
    let path = req.uri().path();
    let rest = path
        .find(PREFIX)
        .map(|i| &path[i + PREFIX.len()..])
        .unwrap_or(path);
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let method = req.method().as_str();
    let resource = |get: Route| {
        if method == "GET" {
            get
        } else {
            Route::MethodNotAllowed
        }
    };
    match segments.as_slice() {
        ["ServiceProviderConfig"] => resource(Route::ServiceProviderConfig),
        ["Schemas"] => resource(Route::Schemas),
        ["Schemas", id] => resource(Route::Schema((*id).to_owned())),
        ["ResourceTypes"] => resource(Route::ResourceTypes),
        ["ResourceTypes", id] => resource(Route::ResourceType((*id).to_owned())),
        [".search"] | ["Users", ".search"] => match method {
            "POST" => Route::Search,
            _ => Route::MethodNotAllowed,
        },
        ["Users"] => match method {
            "GET" => Route::ListUsers,
            "POST" => Route::CreateUser,
            _ => Route::MethodNotAllowed,
        },
        ["Users", id] => {
            let id = (*id).to_owned();
            match method {
                "GET" => Route::GetUser(id),
                "PUT" => Route::ReplaceUser(id),
                "PATCH" => Route::PatchUser(id),
                "DELETE" => Route::DeleteUser(id),
                _ => Route::MethodNotAllowed,
            }
        }
        ["Bulk"] => match method {
            "POST" => Route::Bulk,
            _ => Route::MethodNotAllowed,
        },
        _ => Route::NotFound,
    }
}

/// The service's base URL as the client reached it (`meta.location`, `Location`): the
/// `Host` the request came to, over `X-Forwarded-Proto` (API Gateway: https).
pub fn base_url(req: &Request) -> String {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let host = header("host").unwrap_or_else(|| "localhost".into());
    let proto = header("x-forwarded-proto").unwrap_or_else(|| "http".into());
    format!("{proto}://{host}{PREFIX}")
}

/// A SCIM refusal with its status, `scimType` and detail.
pub fn refuse(
    status: u16,
    scim_type: Option<&'static str>,
    detail: impl Into<String>,
) -> RequestError {
    RequestError::Scim {
        status,
        scim_type,
        detail: detail.into(),
    }
}

/// `/ServiceProviderConfig`.
pub fn service_provider_config(base: &str, limits: &Limits) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": {"supported": true},
        "bulk": {"supported": true, "maxOperations": limits.max_items, "maxPayloadSize": limits.max_body_bytes},
        "filter": {"supported": true, "maxResults": MAX_COUNT},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "A JWT with the administrator role in `Authorization: Bearer <token>` (devctl token --ttl-days for identity providers)",
            "primary": true,
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")},
    })
}

/// The one resource type, User.
pub fn user_resource_type(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "User Account",
        "schema": CORE_USER,
        "schemaExtensions": [{"schema": ACCESS_USER, "required": false}],
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")},
    })
}

/// A ListResponse of `resources`, the whole list.
pub fn list_of(resources: Vec<Value>) -> Value {
    user_page(resources.len(), 1, resources)
}

/// `/Schemas`.
pub fn schemas(base: &str) -> Vec<Value> {
    schema::schemas(base)
}

/// The paging and projection of a listing: `filter`, `startIndex`, `count`,
/// `attributes`, `excludedAttributes` (from the query, or a `.search` body).
#[derive(Clone, Debug, Default)]
pub struct Query {
    /// The filter, if any.
    pub filter: Option<ScimFilter>,
    /// 1-based.
    pub start_index: usize,
    /// Users per page.
    pub count: usize,
    /// What to show.
    pub projection: Projection,
}

/// `attributes` and `excludedAttributes`.
#[derive(Clone, Debug, Default)]
pub struct Projection {
    /// Only these (and `id`, `schemas`); empty: all.
    pub only: Vec<String>,
    /// Not these.
    pub without: Vec<String>,
}

fn names(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn number(name: &str, value: &str, min: usize, max: usize) -> Result<usize, RequestError> {
    value
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            refuse(
                400,
                Some("invalidValue"),
                format!("`{name}` must be an integer from {min} to {max}"),
            )
        })
}

impl Query {
    /// From the query string of `GET /Users`.
    pub fn from_request(req: &Request) -> Result<Self, RequestError> {
        let mut q = Query {
            start_index: 1,
            count: DEFAULT_COUNT,
            ..Query::default()
        };
        for (k, v) in query_pairs(req.uri().query().unwrap_or_default()) {
            q.set(&k, &Value::String(v))?;
        }
        Ok(q)
    }

    /// From a `.search` body.
    pub fn from_search(body: &Value) -> Result<Self, RequestError> {
        check_schemas(body)?;
        let Value::Object(obj) = body else {
            return Err(refuse(
                400,
                Some("invalidSyntax"),
                "A SearchRequest must be a JSON object",
            ));
        };
        let mut q = Query {
            start_index: 1,
            count: DEFAULT_COUNT,
            ..Query::default()
        };
        for (k, v) in obj {
            // Other members (`schemas`, `sortBy`, anything else) are not acted on.
            let known = [
                "filter",
                "startIndex",
                "count",
                "attributes",
                "excludedAttributes",
            ];
            if known.contains(&k.as_str()) {
                q.set(k, v)?;
            }
        }
        Ok(q)
    }

    fn set(&mut self, key: &str, value: &Value) -> Result<(), RequestError> {
        // A JSON number too large for an integer type arrives as a float: an index
        // past any end.
        if key == "startIndex"
            && let Some(f) = value
                .as_f64()
                .filter(|f| value.as_u64().is_none() && *f >= 1.0)
            && f.fract() == 0.0
        {
            self.start_index = usize::MAX;
            return Ok(());
        }
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Array(items) => items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
            _ => {
                return Err(refuse(
                    400,
                    Some("invalidValue"),
                    format!("`{key}` has the wrong type"),
                ));
            }
        };
        match key {
            "filter" => {
                let f = ScimFilter::parse(&text)
                    .map_err(|e| refuse(400, Some("invalidFilter"), e.to_string()))?;
                self.filter = Some(f);
            }
            "startIndex" => {
                // Any index past the end is an empty page, however large.
                let digits = text.trim();
                let huge = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
                self.start_index = match number(key, digits, 1, usize::MAX) {
                    Err(_) if huge && digits.trim_start_matches('0').len() > 19 => usize::MAX,
                    other => other?,
                };
            }
            "count" => self.count = number(key, &text, 0, MAX_COUNT)?,
            "attributes" => self.projection.only = names(&text),
            "excludedAttributes" => self.projection.without = names(&text),
            // sortBy and sortOrder are not supported (ServiceProviderConfig says so);
            // other parameters are not SCIM's and are ignored.
            _ => {}
        }
        Ok(())
    }
}

/// The user as answered: its resource with `meta`, projected.
pub fn user_resource(u: &UserRecord, base: &str, projection: &Projection) -> Value {
    let mut r = to_resource(u, false);
    let location = format!("{base}/Users/{}", u.link_id);
    r.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": u.create_time,
            "lastModified": u.update_time,
            "version": etag(u),
            "location": location,
        }),
    );
    project(&mut r, projection);
    Value::Object(r)
}

/// Attributes always returned whatever the projection.
const ALWAYS: [&str; 2] = ["id", "schemas"];

fn project(r: &mut Map<String, Value>, p: &Projection) {
    let matches = |key: &str, name: &str| {
        let name = name.strip_prefix(&format!("{CORE_USER}:")).unwrap_or(name);
        let top = name.split('.').next().unwrap_or(name);
        key.eq_ignore_ascii_case(name) || key.eq_ignore_ascii_case(top)
    };
    if !p.only.is_empty() {
        let keys: Vec<String> = r.keys().cloned().collect();
        for key in keys {
            if ALWAYS.contains(&key.as_str()) {
                continue;
            }
            let wanted: Vec<&String> = p.only.iter().filter(|n| matches(&key, n)).collect();
            if wanted.is_empty() {
                r.remove(&key);
                continue;
            }
            // `name.givenName`: only those sub-attributes of a complex attribute.
            let subs: Vec<&str> = wanted
                .iter()
                .filter_map(|n| {
                    let n = n.strip_prefix(&format!("{CORE_USER}:")).unwrap_or(n);
                    n.split_once('.').map(|(_, s)| s)
                })
                .collect();
            let whole = wanted
                .iter()
                .any(|n| !n.contains('.') || n.starts_with("urn:"));
            if !whole
                && !subs.is_empty()
                && let Some(Value::Object(obj)) = r.get_mut(&key)
            {
                obj.retain(|k, _| subs.iter().any(|s| s.eq_ignore_ascii_case(k)));
            }
        }
    }
    for name in &p.without {
        let keys: Vec<String> = r.keys().cloned().collect();
        for key in keys {
            if ALWAYS.contains(&key.as_str()) {
                continue;
            }
            let plain = name.strip_prefix(&format!("{CORE_USER}:")).unwrap_or(name);
            match plain.split_once('.') {
                Some((top, sub)) if key.eq_ignore_ascii_case(top) && !plain.starts_with("urn:") => {
                    if let Some(Value::Object(obj)) = r.get_mut(&key) {
                        obj.retain(|k, _| !k.eq_ignore_ascii_case(sub));
                    }
                }
                _ if key.eq_ignore_ascii_case(plain) => {
                    r.remove(&key);
                }
                _ => {}
            }
        }
    }
}

/// A ListResponse page: `total` resources in all, these from `start_index` (1-based).
pub fn user_page(total: usize, start_index: usize, users: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "itemsPerPage": users.len(),
        "startIndex": start_index,
        "Resources": users,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::LinkId;
    use lambda_http::Body;

    fn req(method: &str, path: &str) -> Request {
        http::Request::builder()
            .method(method)
            .uri(path)
            .body(Body::Empty)
            .unwrap()
    }

    #[test]
    fn routes_follow_rfc_7644() {
        let cases = [
            (
                "GET",
                "/scim/v2/ServiceProviderConfig",
                Route::ServiceProviderConfig,
            ),
            (
                "POST",
                "/scim/v2/ServiceProviderConfig",
                Route::MethodNotAllowed,
            ),
            ("DELETE", "/scim/v2/Schemas", Route::MethodNotAllowed),
            (
                "GET",
                "/scim/v2/Schemas/urn:x",
                Route::Schema("urn:x".into()),
            ),
            (
                "GET",
                "/scim/v2/ResourceTypes/User",
                Route::ResourceType("User".into()),
            ),
            ("GET", "/scim/v2/Users", Route::ListUsers),
            ("POST", "/scim/v2/Users", Route::CreateUser),
            (
                "PATCH",
                "/scim/v2/Users/abc",
                Route::PatchUser("abc".into()),
            ),
            ("POST", "/scim/v2/.search", Route::Search),
            ("POST", "/scim/v2/Users/.search", Route::Search),
            ("POST", "/scim/v2/Bulk", Route::Bulk),
            ("GET", "/scim/v2/Groups", Route::NotFound),
            (
                "GET",
                "/scim/v2/5b9c2b8e-0000-4000-8000-000000000000",
                Route::NotFound,
            ),
        ];
        for (method, path, expected) in cases {
            assert_eq!(route(&req(method, path)), expected, "{method} {path}");
        }
    }

    #[test]
    fn listing_parameters_are_checked() {
        let q = Query::from_request(&req("GET", "/scim/v2/Users?filter=userName%20eq%20%22a%22&startIndex=3&count=0&attributes=userName,name.givenName")).unwrap();
        assert_eq!((q.start_index, q.count), (3, 0));
        assert!(q.filter.is_some());
        assert_eq!(q.projection.only, ["userName", "name.givenName"]);
        for bad in [
            "startIndex=0",
            "startIndex=-1",
            "count=1001",
            "count=x",
            "filter=title%20eq%20%22a%22",
        ] {
            let e = Query::from_request(&req("GET", &format!("/scim/v2/Users?{bad}"))).unwrap_err();
            assert_eq!(e.status(), 400, "{bad}");
        }
    }

    #[test]
    fn projections_keep_id_and_schemas() {
        let mut u = UserRecord::for_tests(LinkId::new_random(), "Ann Lee", Vec::new());
        u.email = Some("a@x.io".into());
        let only = Projection {
            only: vec!["emails".into()],
            without: vec![],
        };
        let r = user_resource(&u, "http://h/scim/v2", &only);
        let mut keys: Vec<&String> = r.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["emails", "id", "schemas"]);
        let without = Projection {
            only: vec![],
            without: vec!["name".into(), "meta".into()],
        };
        let r = user_resource(&u, "http://h/scim/v2", &without);
        assert!(r.get("name").is_none() && r.get("meta").is_none() && r.get("userName").is_some());
        let sub = Projection {
            only: vec!["name.formatted".into()],
            without: vec![],
        };
        let r = user_resource(&u, "http://h/scim/v2", &sub);
        assert_eq!(r["name"], json!({"formatted": "Ann Lee"}));
    }
}

/// The schema of BulkRequests.
pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
/// The schema of BulkResponses.
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

/// A BulkRequest, read.
#[derive(Clone, Debug)]
pub struct BulkRequest {
    /// The operations, in order.
    pub operations: Vec<Operation>,
    /// `failOnErrors`.
    pub fail_on_errors: Option<usize>,
}

/// Refuses a SCIM message whose `schemas` is there but is not a list of strings.
pub fn check_schemas(body: &Value) -> Result<(), RequestError> {
    match body.get("schemas") {
        None => Ok(()),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => Ok(()),
        Some(_) => Err(refuse(
            400,
            Some("invalidSyntax"),
            "`schemas` must be a list of schema URNs",
        )),
    }
}

/// Reads `POST /Bulk`: over the body limit (`maxPayloadSize`) or the item limit
/// (`maxOperations`) it is a 413; a body that is not a BulkRequest a 400. An operation
/// that cannot run (an unknown method, a bad path) fails on its own in the answer.
pub fn bulk_request(req: &Request, limits: &Limits) -> Result<BulkRequest, RequestError> {
    let body: &[u8] = req.body().as_ref();
    if body.len() > limits.max_body_bytes {
        return Err(refuse(
            413,
            None,
            format!(
                "The payload is larger than maxPayloadSize ({} bytes)",
                limits.max_body_bytes
            ),
        ));
    }
    let syntax = |detail: &str| refuse(400, Some("invalidSyntax"), detail.to_owned());
    let value: Value =
        serde_json::from_slice(body).map_err(|_| syntax("The body is not valid JSON"))?;
    check_schemas(&value)?;
    let Value::Object(obj) = value else {
        return Err(syntax("A BulkRequest must be a JSON object"));
    };
    let ops = obj
        .get("Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| syntax("A BulkRequest needs a list of Operations"))?;
    if ops.len() > limits.max_items {
        return Err(refuse(
            413,
            None,
            format!("More than maxOperations ({}) operations", limits.max_items),
        ));
    }
    let fail_on_errors = match obj.get("failOnErrors") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|n| *n >= 1)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| {
                    refuse(
                        400,
                        Some("invalidValue"),
                        "`failOnErrors` must be a positive integer",
                    )
                })?,
        ),
    };
    let mut operations = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let o = op
            .as_object()
            .ok_or_else(|| syntax(&format!("Operations[{i}] is not an object")))?;
        let text = |k: &str, required: bool| -> Result<Option<String>, RequestError> {
            match o.get(k) {
                Some(Value::String(v)) => Ok(Some(v.clone())),
                None | Some(Value::Null) if !required => Ok(None),
                _ => Err(syntax(&format!("Operations[{i}].{k} must be a string"))),
            }
        };
        let method_text = text("method", true)?.unwrap_or_default();
        let method = match method_text.to_ascii_uppercase().as_str() {
            "POST" => Some(Method::Post),
            "PUT" => Some(Method::Put),
            "PATCH" => Some(Method::Patch),
            "DELETE" => Some(Method::Delete),
            _ => None,
        };
        operations.push(Operation {
            method,
            method_text,
            bulk_id: text("bulkId", false)?,
            path: text("path", true)?.unwrap_or_default(),
            data: o.get("data").cloned(),
            version: text("version", false)?,
        });
    }
    Ok(BulkRequest {
        operations,
        fail_on_errors,
    })
}

/// The BulkResponse of the operations processed.
pub fn bulk_response(done: &[Done], base: &str) -> Value {
    let ops: Vec<Value> = done
        .iter()
        .map(|d| {
            let mut o = json!({"method": d.method, "status": d.status.to_string()});
            if let Some(b) = &d.bulk_id {
                o["bulkId"] = json!(b);
            }
            if let Some(id) = d.id.filter(|_| !d.is_error()) {
                o["location"] = json!(format!("{base}/Users/{id}"));
            }
            if let Some(r) = &d.record {
                o["version"] = json!(etag(r));
            }
            if let Some((scim_type, detail)) = &d.error {
                let mut e = json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                    "status": d.status.to_string(),
                    "detail": detail,
                });
                if let Some(t) = scim_type {
                    e["scimType"] = json!(t);
                }
                o["response"] = e;
            }
            o
        })
        .collect();
    json!({"schemas": [BULK_RESPONSE], "Operations": ops})
}
