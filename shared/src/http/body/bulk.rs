//! The bulk JSON bodies of the upsert and the hard delete: `{"list_items": [...]}` and
//! `{"link_ids": [...]}` (docs/contracts.md#upsert-users, #delete-users).

use crate::config::Limits;
use crate::domain::json::{FromJson, JsonPath, Obj, parse_object};
use crate::domain::{LinkId, UserInput};
use crate::http::error::RequestError;

/// Parses and validates a whole upsert body: `{"list_items": [user, ...]}`.
pub fn upsert_items(body: &[u8], limits: &Limits) -> Result<Vec<UserInput>, RequestError> {
    parse_bulk_body(body, limits, "list_items", |v, path| {
        UserInput::from_json(v, path).map_err(RequestError::from)
    })
}

/// Parses a hard delete body: `{"link_ids": [uuid, ...]}`.
pub fn link_ids(body: &[u8], limits: &Limits) -> Result<Vec<LinkId>, RequestError> {
    parse_bulk_body(body, limits, "link_ids", |v, path| {
        LinkId::from_json(v, path).map_err(RequestError::from)
    })
}

/// Reads a bulk body `{"<key>": [item, ...]}` (upsert, delete): the byte limit first,
/// then the JSON shape, an empty list, the item limit, and each item with `read` (given
/// its JSON path, `<key>[i]`). The first problem refuses the whole request.
pub fn parse_bulk_body<T>(
    body: &[u8],
    limits: &Limits,
    key: &str,
    read: impl Fn(&serde_json::Value, &JsonPath) -> Result<T, RequestError>,
) -> Result<Vec<T>, RequestError> {
    if body.len() > limits.max_body_bytes {
        return Err(RequestError::BodyTooLarge {
            max: limits.max_body_bytes,
        });
    }
    let map = parse_object(body)?;
    let root = JsonPath::default();
    let list = Obj::new(&map, &root).required_array(key)?;
    if list.is_empty() {
        return Err(RequestError::EmptyList);
    }
    if list.len() > limits.max_items {
        return Err(RequestError::TooManyItems {
            max: limits.max_items,
        });
    }
    let path = JsonPath::root(key);
    list.iter()
        .enumerate()
        .map(|(i, v)| read(v, &path.index(i)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::json::BodyError;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Result<Vec<LinkId>, RequestError> {
        link_ids(v.to_string().as_bytes(), &Limits::default())
    }

    #[test]
    fn link_ids_errors_follow_the_delete_contract() {
        let ok = "91c615e3-1040-4815-8ecb-039a18b756b1";
        assert_eq!(parse(json!({"link_ids": [ok, ok]})).unwrap().len(), 2);
        assert_eq!(parse(json!({"link_ids": []})), Err(RequestError::EmptyList));
        assert_eq!(
            parse(json!({})).unwrap_err().to_string(),
            "Wrong JSON body: no value for `link_ids`"
        );
        assert_eq!(
            parse(json!({"link_ids": [ok, ok, "nope"]}))
                .unwrap_err()
                .to_string(),
            "Wrong JSON body: value `link_ids[2]` was of the wrong type"
        );
        assert_eq!(
            parse(json!({"link_ids": "x"})).unwrap_err().to_string(),
            "Wrong JSON body: value `link_ids` was of the wrong type"
        );
        assert_eq!(
            link_ids(b"nope", &Limits::default()),
            Err(RequestError::Body(BodyError::Malformed))
        );
        let small = Limits {
            max_items: 1,
            ..Limits::default()
        };
        assert_eq!(
            link_ids(json!({"link_ids": [ok, ok]}).to_string().as_bytes(), &small),
            Err(RequestError::TooManyItems { max: 1 })
        );
    }
}
