//! The `DeleteOrRestore` body in JSON.

use serde_json::Value;

use super::{DELETED, DeleteOrRestore, IDS, STATE, SYSTEM_INFORMATION, wrong_type};
use crate::domain::LinkId;
use crate::domain::json::{FromJson, JsonPath, Obj, parse_object};
use crate::http::error::RequestError;

/// Reads a JSON body, refusing more than `max_items` ids.
pub(super) fn parse(body: &[u8], max_items: usize) -> Result<DeleteOrRestore, RequestError> {
    let map = parse_object(body)?;
    // Counted before anything else, like the XML reader that stops at the limit.
    if let Some(Value::Array(items)) = map.get(IDS)
        && items.len() > max_items
    {
        return Err(RequestError::TooManyItems { max: max_items });
    }
    let root = JsonPath::default();
    let obj = Obj::new(&map, &root);
    let deleted: bool = obj.required(DELETED)?;
    let state: Option<bool> = obj.optional(STATE)?;
    let ids_path = obj.path_of(IDS);
    let ids = obj
        .required_array(IDS)?
        .iter()
        .enumerate()
        .map(|(i, v)| LinkId::from_json(v, &ids_path.index(i)))
        .collect::<Result<Vec<_>, _>>()?;
    match map.get(SYSTEM_INFORMATION) {
        None | Some(Value::Null) | Some(Value::Object(_)) => {}
        Some(_) => return Err(wrong_type(obj.path_of(SYSTEM_INFORMATION))),
    }
    DeleteOrRestore::checked(ids, deleted, state)
}
