//! Property tests: whatever a client or a schedule rule sends, every parser answers without
//! panicking, and every refusal is a documented 4xx in the endpoint's own dialect.
//!
//! Each parser gets arbitrary bytes and strings, plus structured but hostile input that
//! gets past the first checks: near-valid JSON with fields replaced by any JSON value,
//! bodies with bytes inserted, deleted or spliced, query strings with `now-<huge>d`, XML
//! assembled from the tokens the reader reacts to. The case count is bounded
//! ([`CASES`]) so `make test` stays fast; `make fuzz` runs the same parsers for as long as
//! you like (see `fuzz/` and the README's "Fuzzing" section).

use std::time::Duration;

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Value, json};

use crate::config::{Config, Limits, MAX_RETENTION_DAYS};
use crate::domain::filter::{DRY_RUN, FilterError, FilterRequest, PARAMETERS, query_pairs};
use crate::domain::json::{BodyError, JsonPath};
use crate::domain::{AuthFactorInput, Timestamp, has_control_chars};
use crate::http::body::bulk::link_ids as parse_delete_request;
use crate::http::body::bulk::upsert_items as parse_request;
use crate::http::body::delete_or_restore::{self, DeleteOrRestore};
use crate::http::dialect;
use crate::http::error::RequestError;
use crate::http::negotiate::Format;
use crate::service::cleanup::{CleanupInput, purge_cutoff};

/// Cases per property in the normal suite; `PROPTEST_CASES=<n>` runs more.
const CASES: u32 = 256;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(CASES)
}

const UUID_A: &str = "e98e00bb-a72b-43dc-951d-3e45be6dfd03";
const UUID_B: &str = "41a4a250-747f-4aca-845d-c390ebc002ae";

fn now() -> Timestamp {
    Timestamp::parse_rfc3339("2026-06-01T00:00:00Z").expect("a valid time")
}

// ----------------------------------------------------------------------------------------
// Strategies
// ----------------------------------------------------------------------------------------

/// Strings a hostile client tries: anything at all, control characters, huge numbers,
/// near-valid relative and absolute times, near-valid UUIDs, booleans, blanks.
fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\\x00-\\x1f a-zA-Z0-9é-]{0,12}",
        "now-[0-9+-]{0,30}[smhdyé]?",
        "-?[0-9]{1,30}",
        rfc3339_ish(),
        "[0-9a-fA-F-]{30,40}",
        Just(UUID_A.to_owned()),
        "(true|false|TRUE|1|0|yes)",
        "(card|pin|face|[a-z]{0,5})",
        "[ \\t\\r\\n]{0,3}",
        "[a-zA-Z]{200,300}",
    ]
}

/// RFC 3339 date-times, valid or nearly, biased to the edges of the years 0000 to 9999
/// and of the offsets (where a conversion to UTC leaves the range).
fn rfc3339_ish() -> impl Strategy<Value = String> {
    "(0000|0001|9999|2026|[0-9]{4})-(01|12|[0-9]{2})-(01|31|[0-9]{2})T(00|23|[0-9]{2}):\
     (00|59|[0-9]{2}):(00|59|60|[0-9]{2})(\\.[0-9]{1,9})?(Z|[+-](00|23|[0-9]{2}):(00|59|[0-9]{2}))"
}

/// Any JSON value, a few levels deep, with hostile leaves.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        hostile_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(field_name(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Field names the parsers read, and any other.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(vec![
            "list_items", "link_ids", "link_id", "name", "auth_factors", "type", "number",
            "image", "info", "email", "role_id", "user_type", "active", "time_profile_id",
            "is_online", "login_ip", "last_login_time", "ids", "deleted", "state",
            "system_information", "purge", "retention_days", "filters", "detail-type", "detail",
        ])
        .prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

/// A change to one JSON object: a field set to any value, or removed.
#[derive(Clone, Debug)]
enum FieldEdit {
    Set(String, Value),
    Remove(String),
}

fn field_edits() -> impl Strategy<Value = Vec<FieldEdit>> {
    let edit = prop_oneof![
        3 => (field_name(), json_value()).prop_map(|(k, v)| FieldEdit::Set(k, v)),
        1 => field_name().prop_map(FieldEdit::Remove),
    ];
    prop_oneof![1 => Just(Vec::new()), 2 => prop::collection::vec(edit, 1..4)]
}

fn apply(mut value: Value, edits: &[FieldEdit]) -> Value {
    if let Some(map) = value.as_object_mut() {
        for e in edits {
            match e {
                FieldEdit::Set(k, v) => {
                    map.insert(k.clone(), v.clone());
                }
                FieldEdit::Remove(k) => {
                    map.remove(k);
                }
            }
        }
    }
    value
}

/// A change to a body's bytes.
#[derive(Clone, Debug)]
enum ByteEdit {
    Insert(usize, u8),
    Delete(usize),
    Replace(usize, u8),
    Truncate(usize),
    Splice(usize, &'static str),
}

fn byte_edits() -> impl Strategy<Value = Vec<ByteEdit>> {
    let splice = select(vec![
        "\"",
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "null",
        "1e999",
        "-0",
        "\\u0000",
        "\\",
        "\u{0}",
        "18446744073709551616",
        "<",
        ">",
        "</",
        "/>",
        "&",
        "&#0;",
        "&#x110000;",
        "<![CDATA[",
        "]]>",
        "<!DOCTYPE a>",
        "<?xml version=\"1.0\"?>",
        " i:nil=\"true\"",
        "\u{FEFF}",
        "é",
    ]);
    let edit = prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| ByteEdit::Insert(i, b)),
        any::<usize>().prop_map(ByteEdit::Delete),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| ByteEdit::Replace(i, b)),
        any::<usize>().prop_map(ByteEdit::Truncate),
        (any::<usize>(), splice).prop_map(|(i, s)| ByteEdit::Splice(i, s)),
    ];
    prop::collection::vec(edit, 1..6)
}

fn mutate(mut bytes: Vec<u8>, edits: &[ByteEdit]) -> Vec<u8> {
    for e in edits {
        let at = |i: usize, len: usize| i % (len + 1);
        match *e {
            ByteEdit::Insert(i, b) => bytes.insert(at(i, bytes.len()), b),
            ByteEdit::Delete(i) if !bytes.is_empty() => {
                bytes.remove(i % bytes.len());
            }
            ByteEdit::Replace(i, b) if !bytes.is_empty() => {
                let i = i % bytes.len();
                bytes[i] = b;
            }
            ByteEdit::Truncate(i) => bytes.truncate(at(i, bytes.len())),
            ByteEdit::Splice(i, s) => {
                let i = at(i, bytes.len());
                bytes.splice(i..i, s.bytes());
            }
            ByteEdit::Delete(_) | ByteEdit::Replace(..) => {}
        }
    }
    bytes
}

/// The configured limits, or small ones so the limits themselves are exercised.
fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![
        Just(Limits::default()),
        (1usize..4, 0usize..600).prop_map(|(max_items, max_body_bytes)| Limits {
            max_items,
            max_body_bytes,
            ..Limits::default()
        }),
    ]
}

fn valid_user() -> Value {
    json!({
        "link_id": UUID_A, "name": "Ann Lee", "info": "x", "email": "a@b.c", "active": true,
        "auth_factors": [{"type": "card", "number": "1234"}, {"type": "pin", "number": 42}],
        "is_online": false, "login_ip": "10.0.0.1", "last_login_time": "2026-02-04T02:49:44+01:00"
    })
}

/// An upsert item close to a valid one: some fields replaced by any value or removed, and
/// auth factors with hostile types and numbers.
fn near_valid_user() -> impl Strategy<Value = Value> {
    let factor = (
        prop_oneof![
            Just(json!("card")),
            Just(json!("pin")),
            Just(json!("face")),
            json_value()
        ],
        prop_oneof![hostile_string().prop_map(Value::String), json_value()],
    )
        .prop_map(|(t, n)| json!({"type": t, "number": n, "image": n}));
    (
        field_edits(),
        prop::option::weighted(0.3, prop::collection::vec(factor, 0..3)),
        prop::option::weighted(0.2, hostile_string()),
        prop::option::weighted(0.2, rfc3339_ish()),
    )
        .prop_map(|(edits, factors, name, login)| {
            let mut user = valid_user();
            if let Some(name) = name {
                user["name"] = Value::String(name);
            }
            if let Some(login) = login {
                user["last_login_time"] = Value::String(login);
            }
            let mut user = apply(user, &edits);
            if let (Some(f), Some(map)) = (factors, user.as_object_mut()) {
                map.insert("auth_factors".into(), Value::Array(f));
            }
            user
        })
}

/// A bulk body `{"<key>": [...]}` close to a valid one, as bytes, possibly mangled.
fn near_valid_bulk(
    key: &'static str,
    item: BoxedStrategy<Value>,
) -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(item, 0..4),
        field_edits(),
        prop::option::of(byte_edits()),
    )
        .prop_map(move |(items, edits, bytes)| {
            let body = apply(json!({ key: items }), &edits);
            let raw = body.to_string().into_bytes();
            match bytes {
                Some(e) => mutate(raw, &e),
                None => raw,
            }
        })
}

fn link_id_item() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => Just(json!(UUID_A)),
        1 => hostile_string().prop_map(Value::String),
        1 => json_value(),
    ]
    .boxed()
}

/// Query parameters: the real names (and `dry_run`) or any, with time-like, huge and
/// arbitrary values.
fn query_params() -> impl Strategy<Value = Vec<(String, String)>> {
    let mut names: Vec<&'static str> = PARAMETERS.to_vec();
    names.push(DRY_RUN);
    let key = prop_oneof![
        4 => select(names).prop_map(str::to_owned),
        1 => any::<String>(),
    ];
    let value = prop_oneof!["now-[0-9]{1,30}[smhd]", "-?[0-9]{1,25}", hostile_string(),];
    prop::collection::vec((key, value), 0..5)
}

/// XML assembled from the tokens the `DeleteOrRestore` reader reacts to.
fn xml_fragments() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        8 => select(vec![
            "<DeleteOrRestore xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\">",
            "<DeleteOrRestore>", "</DeleteOrRestore>", "<deleted>", "</deleted>", "<state>",
            "</state>", "<ids>", "</ids>", "<d2p1:guid>", "</d2p1:guid>", "<guid>", "</guid>",
            "<system_information>", "</system_information>", "<a>", "</a>", "<x/>",
            "<deleted i:nil=\"true\"/>", "<ids i:nil=\"true\"/>", "true", "false", "1", " 0 ",
            UUID_A, UUID_B, "&amp;", "&lt;", "&#116;", "&#x0;", "&#1114112;", "&#xD800;",
            "&x;", "&", "<![CDATA[", "]]>", "<!-- c -->", "<?pi x?>",
            "<?xml version=\"1.0\"?>", "<!DOCTYPE a [<!ENTITY x \"y\">]>", "<", ">", "/>",
            " a=\"1\"", " a=\"1\" a=\"2\"", "\n", "\u{FEFF}", "\u{1}", "é",
        ])
        .prop_map(str::to_owned),
        1 => any::<String>(),
    ];
    prop::collection::vec(token, 0..40).prop_map(|t| t.concat())
}

fn contract_xml(ids: &[&str]) -> String {
    let items: String = ids
        .iter()
        .map(|i| format!("<d2p1:guid>{i}</d2p1:guid>"))
        .collect();
    format!(
        "<DeleteOrRestore xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xmlns=\"http://schemas.datacontract.org/2004/07/IO.Swagger.Models\"><deleted>true</deleted>\
         <ids xmlns:d2p1=\"http://schemas.microsoft.com/2003/10/Serialization/Arrays\">{items}</ids>\
         <state>false</state><system_information><creation><date>2026-02-04T02:49:44Z</date>\
         </creation></system_information></DeleteOrRestore>"
    )
}

/// A clean-up rule input close to a valid one, or any JSON at all.
fn cleanup_event() -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        "now-[0-9]{1,30}[smhd]".prop_map(Value::String),
        hostile_string().prop_map(Value::String),
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::Bool),
        json_value(),
    ];
    let mut names: Vec<&'static str> = PARAMETERS.to_vec();
    names.push(DRY_RUN);
    let filter = prop::collection::btree_map(
        prop_oneof![4 => select(names).prop_map(str::to_owned), 1 => any::<String>()],
        scalar,
        0..4,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect()));
    let retention = prop_oneof![
        any::<u64>().prop_map(Value::from),
        (0u64..=40_000).prop_map(Value::from),
        Just(json!(999_999_999_999u64)),
        json_value(),
    ];
    let near_valid = (
        prop::option::of(json_value()),
        prop::option::of(retention),
        prop::collection::vec(filter, 0..3),
        field_edits(),
        any::<bool>(),
    )
        .prop_map(|(purge, retention, filters, edits, scheduled)| {
            let mut input = json!({"filters": filters});
            if let Some(p) = purge {
                input["purge"] = p;
            }
            if let Some(r) = retention {
                input["retention_days"] = r;
            }
            let input = apply(input, &edits);
            if scheduled {
                json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": input})
            } else {
                input
            }
        });
    prop_oneof![3 => near_valid, 1 => json_value()]
}

// ----------------------------------------------------------------------------------------
// What every answer must be
// ----------------------------------------------------------------------------------------

fn body_json(resp: &lambda_http::Response<lambda_http::Body>) -> Value {
    serde_json::from_slice(resp.body().as_ref()).expect("a JSON answer")
}

/// A JSON path this service wrote itself (`list_items[3].auth_factors[0].number`): made of
/// its own field names and indexes, never of text a client sent.
fn is_own_path(path: &JsonPath, root: &str) -> bool {
    let p = path.as_str();
    p.starts_with(root)
        && p.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.[]".contains(c))
}

/// A stored time: fixed width, so string order is time order.
fn is_stored_form(t: &Timestamp) -> bool {
    let s = t.to_db_string();
    s.len() == 24 && s.as_bytes()[0].is_ascii_digit() && s.ends_with('Z')
}

/// The filter dialect: 400 `validation_error` with code 130 (naming a parameter that was
/// sent), 131 (naming it) or 132; a parsed filter holds only representable times and
/// clean names.
fn check_filter(
    keys: &[&str],
    result: Result<FilterRequest, FilterError>,
) -> Result<(), TestCaseError> {
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
                prop_assert!(is_stored_form(t), "{t}");
            }
            if let Some(name) = &f.name {
                prop_assert!(!has_control_chars(name));
            }
            return Ok(());
        }
        Err(e) => e,
    };
    let (code, reason) = match &e {
        FilterError::Invalid { param, .. } => {
            prop_assert!(keys.contains(&param.as_str()), "{param} was not sent");
            (130, "invalid_parameter")
        }
        FilterError::Unknown(param) => {
            prop_assert!(keys.contains(&param.as_str()), "{param} was not sent");
            (131, "unknown_parameter")
        }
        FilterError::NoFilter => (132, "filter_required"),
    };
    if let FilterError::Invalid { param, .. } | FilterError::Unknown(param) = &e {
        let named = format!("`{param}`");
        prop_assert!(e.to_string().contains(&named), "{e}");
    }
    let resp = dialect::filter::error(&RequestError::Filter(e.clone()));
    prop_assert_eq!(resp.status(), 400);
    prop_assert_eq!(
        body_json(&resp),
        json!({"error_type": "validation_error", "success": false,
               "error": {"message": e.to_string(), "code": code, "reason": reason}})
    );
    Ok(())
}

fn check_query(pairs: &[(String, String)]) -> Result<(), TestCaseError> {
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    let parsed = FilterRequest::parse(
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        now(),
        3,
    );
    check_filter(&keys, parsed)
}

/// The error-string dialect: 400 `{"error": ...}` with one of the documented texts; paths
/// are real JSON paths under the list's key.
fn check_plain<T>(
    result: Result<T, RequestError>,
    key: &str,
    limits: &Limits,
) -> Result<Option<T>, TestCaseError> {
    let e = match result {
        Ok(v) => return Ok(Some(v)),
        Err(e) => e,
    };
    let text = e.to_string();
    let documented = match &e {
        RequestError::Body(BodyError::Malformed) => text == "Wrong JSON body",
        RequestError::Body(BodyError::Missing(p)) => {
            is_own_path(p, key) && text == format!("Wrong JSON body: no value for `{p}`")
        }
        RequestError::Body(BodyError::WrongType(p)) => {
            is_own_path(p, key)
                && text == format!("Wrong JSON body: value `{p}` was of the wrong type")
        }
        RequestError::EmptyAuthFactors => {
            key == "list_items" && text == "auth_factors must contain at least one item"
        }
        RequestError::EmptyList => text == "List cannot be empty",
        RequestError::TooManyItems { max } => *max == limits.max_items,
        RequestError::BodyTooLarge { max } => *max == limits.max_body_bytes,
        _ => false,
    };
    prop_assert!(documented, "undocumented refusal: {e:?}");
    prop_assert_eq!(e.status(), 400);
    let resp = dialect::plain::error(&e);
    prop_assert_eq!(resp.status(), 400);
    prop_assert_eq!(body_json(&resp), json!({ "error": text }));
    Ok(None)
}

fn check_upsert(body: &[u8], limits: &Limits) -> Result<(), TestCaseError> {
    if let Some(users) = check_plain(parse_request(body, limits), "list_items", limits)? {
        prop_assert!(!users.is_empty() && users.len() <= limits.max_items);
        for u in &users {
            prop_assert!(!has_control_chars(u.name.as_str()));
            prop_assert!(!u.auth_factors.is_empty());
            for f in &u.auth_factors {
                if let AuthFactorInput::Number(i) = f {
                    prop_assert!(!i.number.is_empty() && !has_control_chars(&i.number));
                }
            }
            if let Some(t) = u.last_login_time.value() {
                prop_assert!(is_stored_form(t));
            }
        }
    }
    Ok(())
}

fn check_delete(body: &[u8], limits: &Limits) -> Result<(), TestCaseError> {
    if let Some(ids) = check_plain(parse_delete_request(body, limits), "link_ids", limits)? {
        prop_assert!(!ids.is_empty() && ids.len() <= limits.max_items);
    }
    Ok(())
}

/// The Result dialect: a `Result` with one message whose code is the status (400) and
/// whose field names the member (`deleted`, `ids[2]`), in JSON and in XML.
fn check_restore(body: &[u8], format: Format, limits: &Limits) -> Result<(), TestCaseError> {
    let e = match delete_or_restore::parse(body, format, limits) {
        Ok(DeleteOrRestore { ids, .. }) => {
            prop_assert!(!ids.is_empty() && ids.len() <= limits.max_items);
            return Ok(());
        }
        Err(e) => e,
    };
    prop_assert_eq!(e.status(), 400, "{:?}", e);
    let member = |p: &JsonPath| {
        ["deleted", "state", "ids", "system_information"].contains(&p.as_str())
            || (is_own_path(p, "ids[") && p.as_str().ends_with(']'))
    };
    let expected_field = match &e {
        RequestError::Body(BodyError::Malformed) | RequestError::BodyTooLarge { .. } => None,
        RequestError::Body(BodyError::Missing(p) | BodyError::WrongType(p)) => {
            prop_assert!(member(p), "{p}");
            Some(p.to_string())
        }
        RequestError::EmptyList => Some("ids".to_owned()),
        RequestError::TooManyItems { max } => {
            prop_assert_eq!(*max, limits.max_items);
            Some("ids".to_owned())
        }
        other => {
            return Err(TestCaseError::fail(format!(
                "undocumented refusal: {other:?}"
            )));
        }
    };
    let message = dialect::result::error_message(&e, format);
    prop_assert_eq!(message.code, 400);
    prop_assert_eq!(message.field, expected_field);
    for answer in [Format::Json, Format::Xml] {
        let resp = dialect::result::request_error_in(&e, format, answer);
        prop_assert_eq!(resp.status(), 400);
    }
    let json = body_json(&dialect::result::request_error_in(&e, format, Format::Json));
    prop_assert_eq!(&json["count_of_errors"], &json!(1));
    prop_assert_eq!(&json["messages"][0]["code"], &json!(400));
    Ok(())
}

/// The clean-up: an input that does not read is an `InputError`; one that reads yields a
/// cut-off or a refusal of its retention (never an overflow), and each saved filter parses
/// or is refused as the endpoint would refuse it.
fn check_cleanup(event: &Value) -> Result<(), TestCaseError> {
    let input = match CleanupInput::from_event(event) {
        Ok(input) => input,
        Err(e) => {
            prop_assert!(e.to_string().starts_with("invalid clean-up input: "));
            return Ok(());
        }
    };
    let cutoff = purge_cutoff(
        now(),
        Duration::from_secs(30 * 86_400),
        input.retention_days,
    );
    match input.retention_days {
        Some(days) if days > MAX_RETENTION_DAYS => prop_assert!(cutoff.is_err()),
        _ => prop_assert!(cutoff.is_ok_and(|c| is_stored_form(&c))),
    }
    for params in &input.filters {
        let keys: Vec<&str> = params.keys().map(String::as_str).collect();
        let parsed = FilterRequest::parse(
            params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            now(),
            1000,
        );
        check_filter(&keys, parsed)?;
    }
    Ok(())
}

// ----------------------------------------------------------------------------------------
// Properties
// ----------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn the_filter_query_parser_refuses_any_query_in_the_filter_dialect(
        params in query_params(),
        raw in any::<String>(),
        bytes in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        check_query(&params)?;
        // The same parameters through percent-encoding, as the HTTP adapter reads them.
        let mut encoded = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &params {
            encoded.append_pair(k, v);
        }
        let decoded = query_pairs(&encoded.finish());
        prop_assert_eq!(&decoded, &params);
        check_query(&query_pairs(&raw))?;
        check_query(&query_pairs(&String::from_utf8_lossy(&bytes)))?;
    }

    #[test]
    fn the_upsert_body_parser_refuses_anything_with_a_documented_400(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        body in near_valid_bulk("list_items", near_valid_user().boxed()),
        limits in limits(),
    ) {
        check_upsert(&bytes, &limits)?;
        check_upsert(&body, &limits)?;
        check_upsert(&body, &Limits::default())?;
    }

    #[test]
    fn the_delete_body_parser_refuses_anything_with_a_documented_400(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        body in near_valid_bulk("link_ids", link_id_item()),
        limits in limits(),
    ) {
        check_delete(&bytes, &limits)?;
        check_delete(&body, &limits)?;
        check_delete(&body, &Limits::default())?;
    }

    #[test]
    fn the_delete_or_restore_json_reader_answers_a_result_for_anything(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        edits in field_edits(),
        ids in prop::collection::vec(link_id_item(), 0..4),
        mangle in prop::option::of(byte_edits()),
        limits in limits(),
    ) {
        check_restore(&bytes, Format::Json, &limits)?;
        let body = apply(json!({"ids": ids, "deleted": true, "state": null}), &edits);
        let raw = body.to_string().into_bytes();
        let raw = match mangle { Some(e) => mutate(raw, &e), None => raw };
        check_restore(&raw, Format::Json, &limits)?;
        check_restore(&raw, Format::Json, &Limits::default())?;
    }

    #[test]
    fn the_delete_or_restore_xml_reader_answers_a_result_for_anything(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        fragments in xml_fragments(),
        edits in byte_edits(),
        limits in limits(),
    ) {
        check_restore(&bytes, Format::Xml, &limits)?;
        check_restore(fragments.as_bytes(), Format::Xml, &limits)?;
        check_restore(fragments.as_bytes(), Format::Xml, &Limits::default())?;
        let mangled = mutate(contract_xml(&[UUID_A, UUID_B]).into_bytes(), &edits);
        check_restore(&mangled, Format::Xml, &Limits::default())?;
    }

    #[test]
    fn the_cleanup_rule_input_never_overflows(
        event in cleanup_event(),
        bytes in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        check_cleanup(&event)?;
        if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
            check_cleanup(&v)?;
        }
    }

    #[test]
    fn configuration_numbers_are_refused_by_name_never_overflowed(
        set in prop::collection::btree_map(
            select(vec![
                "MAX_ITEMS_PER_REQUEST", "MAX_BODY_BYTES", "MAX_IDENTIFIERS_PER_USER",
                "MAX_FACE_IDENTIFIERS_PER_USER", "MAX_FACE_IMAGE_BYTES", "DYNAMODB_CONCURRENCY",
                "DEADLINE_MARGIN_MS", "DEFAULT_BUDGET_MS", "SOFT_DELETE_RETENTION_DAYS",
            ]),
            prop_oneof![
                "[0-9]{1,25}",
                any::<u64>().prop_map(|n| n.to_string()),
                (0u64..1_000_000).prop_map(|n| n.to_string()),
                hostile_string(),
            ],
            1..4,
        ),
    ) {
        let mut vars: std::collections::HashMap<String, String> = [
            ("TABLE_NAME", "users"),
            ("AUTH_JWT_SECRET", "0123456789abcdef"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in &set {
            vars.insert(k.to_string(), v.clone());
        }
        match Config::from_vars(&vars) {
            Ok(c) => {
                prop_assert!(c.soft_delete_retention <= Duration::from_secs(MAX_RETENTION_DAYS * 86_400));
                prop_assert!(c.default_budget <= Duration::from_secs(900));
                prop_assert!(now().checked_sub(c.soft_delete_retention).is_some());
                let _ = crate::deadline::Deadline::for_invocation(0, c.deadline_margin, c.default_budget);
            }
            Err(e) => {
                let text = e.to_string();
                prop_assert!(set.keys().any(|k| text.contains(k)), "{text}");
            }
        }
    }
}

/// The structured strategies do reach past the first checks: a sample of their cases
/// parses, so the properties above are not only about garbage.
#[test]
fn the_near_valid_strategies_also_produce_valid_input() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut parsed = [0usize; 3];
    for _ in 0..200 {
        let upsert = near_valid_bulk("list_items", near_valid_user().boxed())
            .new_tree(&mut runner)
            .expect("a case")
            .current();
        parsed[0] += usize::from(parse_request(&upsert, &Limits::default()).is_ok());
        let query = query_params()
            .new_tree(&mut runner)
            .expect("a case")
            .current();
        let ok = FilterRequest::parse(
            query.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            now(),
            3,
        );
        parsed[1] += usize::from(ok.is_ok());
        let event = cleanup_event()
            .new_tree(&mut runner)
            .expect("a case")
            .current();
        parsed[2] += usize::from(CleanupInput::from_event(&event).is_ok());
    }
    eprintln!("parsed of 200: upsert, query, clean-up input: {parsed:?}");
    assert!(parsed.iter().all(|&n| n >= 10), "{parsed:?}");
}
