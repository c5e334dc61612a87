//! What every fuzz target checks, besides "no panic": each refusal is a documented 4xx in
//! its endpoint's dialect, and what is accepted holds the domain's guarantees. The same
//! properties as the bounded ones in `shared/src/hostile_input.rs`, for long runs.

use std::time::Duration;

use serde_json::{Value, json};
use shared::service::cleanup::{CleanupInput, purge_cutoff};
use shared::config::{Limits, MAX_RETENTION_DAYS};
use shared::http::body::bulk::link_ids as parse_delete_request;
use shared::http::dialect;
use shared::domain::{AuthFactorInput, Timestamp, has_control_chars};
use shared::http::error::RequestError;
use shared::domain::filter::{FilterError, FilterRequest, query_pairs};
use shared::domain::json::{BodyError, JsonPath};
use shared::http::body::delete_or_restore;
use shared::http::negotiate::Format;
use shared::http::body::bulk::upsert_items as parse_request;

fn now() -> Timestamp {
    Timestamp::parse_rfc3339("2026-06-01T00:00:00Z").expect("a valid time")
}

/// The configured limits, and small ones so the limits themselves are exercised.
fn limits() -> [Limits; 2] {
    [
        Limits::default(),
        Limits {
            max_items: 2,
            max_body_bytes: 4096,
            ..Limits::default()
        },
    ]
}

fn body_json<B: AsRef<[u8]>>(resp: &http::Response<B>) -> Value {
    serde_json::from_slice(resp.body().as_ref()).expect("a JSON answer")
}

fn is_own_path(path: &JsonPath, root: &str) -> bool {
    let p = path.as_str();
    p.starts_with(root)
        && p.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.[]".contains(c))
}

fn is_stored_form(t: &Timestamp) -> bool {
    let s = t.to_db_string();
    s.len() == 24 && s.as_bytes()[0].is_ascii_digit() && s.ends_with('Z')
}

fn check_filter(keys: &[&str], result: Result<FilterRequest, FilterError>) {
    let e = match result {
        Ok(r) => {
            let f = &r.filter;
            for t in [
                f.create_time_gt,
                f.create_time_lt,
                f.last_login_time_gt,
                f.last_login_time_lt,
            ]
            .iter()
            .flatten()
            {
                assert!(is_stored_form(t), "{t}");
            }
            assert!(f.name.as_deref().is_none_or(|n| !has_control_chars(n)));
            return;
        }
        Err(e) => e,
    };
    let (code, reason) = match &e {
        FilterError::Invalid { param, .. } => {
            assert!(keys.contains(&param.as_str()), "{param} was not sent");
            (130, "invalid_parameter")
        }
        FilterError::Unknown(param) => {
            assert!(keys.contains(&param.as_str()), "{param} was not sent");
            (131, "unknown_parameter")
        }
        FilterError::NoFilter => (132, "filter_required"),
    };
    let resp = dialect::filter::error(&RequestError::Filter(e.clone()));
    assert_eq!(resp.status(), 400);
    assert_eq!(
        body_json(&resp),
        json!({"error_type": "validation_error", "success": false,
               "error": {"message": e.to_string(), "code": code, "reason": reason}})
    );
}

/// `DELETE /api/v1/users?<query>`.
pub fn filter_query(data: &[u8]) {
    let query = String::from_utf8_lossy(data);
    let pairs = query_pairs(&query);
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    let parsed = FilterRequest::parse(
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        now(),
        1000,
    );
    check_filter(&keys, parsed);
}

fn check_plain<T>(result: Result<T, RequestError>, key: &str, limits: &Limits) -> Option<T> {
    let e = match result {
        Ok(v) => return Some(v),
        Err(e) => e,
    };
    let documented = match &e {
        RequestError::Body(BodyError::Malformed) => true,
        RequestError::Body(BodyError::Missing(p) | BodyError::WrongType(p)) => is_own_path(p, key),
        RequestError::EmptyAuthFactors => key == "list_items",
        RequestError::EmptyList => true,
        RequestError::TooManyItems { max } => *max == limits.max_items,
        RequestError::BodyTooLarge { max } => *max == limits.max_body_bytes,
        _ => false,
    };
    assert!(documented, "undocumented refusal: {e:?}");
    let resp = dialect::plain::error(&e);
    assert_eq!(resp.status(), 400);
    assert_eq!(body_json(&resp), json!({ "error": e.to_string() }));
    None
}

/// `POST /api/v1/users/bulk`.
pub fn upsert_body(data: &[u8]) {
    for limits in limits() {
        let Some(users) = check_plain(parse_request(data, &limits), "list_items", &limits) else {
            continue;
        };
        assert!(!users.is_empty() && users.len() <= limits.max_items);
        for u in &users {
            assert!(!has_control_chars(u.name.as_str()));
            assert!(!u.auth_factors.is_empty());
            for f in &u.auth_factors {
                if let AuthFactorInput::Number(i) = f {
                    assert!(!i.number.is_empty() && !has_control_chars(&i.number));
                }
            }
            assert!(u.last_login_time.value().is_none_or(is_stored_form));
        }
    }
}

/// `DELETE /api/v1/users/bulk`.
pub fn delete_body(data: &[u8]) {
    for limits in limits() {
        if let Some(ids) = check_plain(parse_delete_request(data, &limits), "link_ids", &limits) {
            assert!(!ids.is_empty() && ids.len() <= limits.max_items);
        }
    }
}

/// `POST /api/v1/users/bulk/delete`, JSON or XML.
pub fn restore_body(data: &[u8], format: Format) {
    for limits in limits() {
        let e = match delete_or_restore::parse(data, format, &limits) {
            Ok(r) => {
                assert!(!r.ids.is_empty() && r.ids.len() <= limits.max_items);
                continue;
            }
            Err(e) => e,
        };
        let field = match &e {
            RequestError::Body(BodyError::Malformed) | RequestError::BodyTooLarge { .. } => None,
            RequestError::Body(BodyError::Missing(p) | BodyError::WrongType(p)) => {
                let member = ["deleted", "state", "ids", "system_information"]
                    .contains(&p.as_str())
                    || (is_own_path(p, "ids[") && p.as_str().ends_with(']'));
                assert!(member, "{p}");
                Some(p.to_string())
            }
            RequestError::EmptyList | RequestError::TooManyItems { .. } => Some("ids".to_owned()),
            other => panic!("undocumented refusal: {other:?}"),
        };
        let message = dialect::result::error_message(&e, format);
        assert_eq!((message.code, message.field), (400, field));
        for answer in [Format::Json, Format::Xml] {
            let resp = dialect::result::request_error_in(&e, format, answer);
            assert_eq!(resp.status(), 400);
        }
    }
}

/// `cleanup-users`: the event payload, its retention and its saved filters.
pub fn cleanup_input(data: &[u8]) {
    let Ok(event) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let input = match CleanupInput::from_event(&event) {
        Ok(input) => input,
        Err(e) => {
            assert!(e.to_string().starts_with("invalid clean-up input: "));
            return;
        }
    };
    let cutoff = purge_cutoff(
        now(),
        Duration::from_secs(30 * 86_400),
        input.retention_days,
    );
    match input.retention_days {
        Some(days) if days > MAX_RETENTION_DAYS => assert!(cutoff.is_err()),
        _ => assert!(cutoff.is_ok_and(|c| is_stored_form(&c))),
    }
    for params in &input.filters {
        let keys: Vec<&str> = params.keys().map(String::as_str).collect();
        let parsed = FilterRequest::parse(
            params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            now(),
            1000,
        );
        check_filter(&keys, parsed);
    }
}
