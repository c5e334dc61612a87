//! Typed reading of JSON request bodies with the error texts clients already parse.
//!
//! The contract (docs/contracts.md#error-string-dialect) names the offending field by its
//! JSON path: `Wrong JSON body: no value for `list_items[3].name``. serde's own messages
//! do not follow that shape, so bodies are read as a `serde_json::Value` and walked with
//! [`Obj`], which knows the path of every value it hands out.

use std::fmt;
use std::net::IpAddr;

use serde_json::{Map, Value};
use uuid::Uuid;

/// Where a value sits in the request body, rendered the way clients read it: `list_items[3].name`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JsonPath(String);

impl JsonPath {
    /// The path of a top-level field.
    pub fn root(field: &str) -> Self {
        Self(field.to_owned())
    }

    /// The path of `field` inside the object at `self`.
    pub fn field(&self, field: &str) -> Self {
        if self.0.is_empty() {
            return Self::root(field);
        }
        Self(format!("{}.{field}", self.0))
    }

    /// The path of element `index` of the array at `self`.
    pub fn index(&self, index: usize) -> Self {
        Self(format!("{}[{index}]", self.0))
    }

    /// The rendered path.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A structural problem with a JSON body; the texts are fixed by the contract.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Not JSON at all, or not an object where one is required.
    #[error("Wrong JSON body")]
    Malformed,
    /// A required field is absent or `null`.
    #[error("Wrong JSON body: no value for `{0}`")]
    Missing(JsonPath),
    /// A field is present but cannot be read as its type.
    #[error("Wrong JSON body: value `{0}` was of the wrong type")]
    WrongType(JsonPath),
}

/// An optional field as sent: absent (keep what is stored), `null` (clear it) or a value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Field<T> {
    /// The key was not in the object.
    #[default]
    Absent,
    /// The key was present with `null`.
    Null,
    /// The key carried a value of the right type.
    Value(T),
}

impl<T> Field<T> {
    /// Applies the field to the stored value: absent keeps it, null clears it.
    pub fn apply(self, stored: Option<T>) -> Option<T> {
        match self {
            Field::Absent => stored,
            Field::Null => None,
            Field::Value(v) => Some(v),
        }
    }

    /// The value when one was sent.
    pub fn value(&self) -> Option<&T> {
        match self {
            Field::Value(v) => Some(v),
            _ => None,
        }
    }
}

/// Conversion from one JSON value; `path` is only used to name the value in errors.
pub trait FromJson: Sized {
    /// Reads `value`, or reports it as [`BodyError::WrongType`] at `path`.
    fn from_json(value: &Value, path: &JsonPath) -> Result<Self, BodyError>;
}

impl FromJson for String {
    fn from_json(value: &Value, path: &JsonPath) -> Result<Self, BodyError> {
        value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| BodyError::WrongType(path.clone()))
    }
}

impl FromJson for bool {
    fn from_json(value: &Value, path: &JsonPath) -> Result<Self, BodyError> {
        value
            .as_bool()
            .ok_or_else(|| BodyError::WrongType(path.clone()))
    }
}

impl FromJson for Uuid {
    fn from_json(value: &Value, path: &JsonPath) -> Result<Self, BodyError> {
        value
            .as_str()
            .and_then(|s| Uuid::try_parse(s).ok())
            .ok_or_else(|| BodyError::WrongType(path.clone()))
    }
}

impl FromJson for IpAddr {
    fn from_json(value: &Value, path: &JsonPath) -> Result<Self, BodyError> {
        value
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| BodyError::WrongType(path.clone()))
    }
}

/// Parses a whole body into a JSON object; anything else is `Wrong JSON body`.
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, BodyError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(BodyError::Malformed),
    }
}

/// A JSON object together with its path, handing out typed fields.
#[derive(Clone, Copy, Debug)]
pub struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: &'a JsonPath,
}

impl<'a> Obj<'a> {
    /// Wraps `map`, which sits at `path` (the empty path for the body itself).
    pub fn new(map: &'a Map<String, Value>, path: &'a JsonPath) -> Self {
        Self { map, path }
    }

    /// Reads `value` at `path` as an object.
    pub fn at(value: &'a Value, path: &'a JsonPath) -> Result<Self, BodyError> {
        value
            .as_object()
            .map(|map| Self { map, path })
            .ok_or_else(|| BodyError::WrongType(path.clone()))
    }

    /// The path of `key` inside this object.
    pub fn path_of(&self, key: &str) -> JsonPath {
        self.path.field(key)
    }

    /// The raw value of a required key; `null` counts as missing.
    pub fn raw_required(&self, key: &str) -> Result<&'a Value, BodyError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Err(BodyError::Missing(self.path_of(key))),
            Some(v) => Ok(v),
        }
    }

    /// A required key of type `T`.
    pub fn required<T: FromJson>(&self, key: &str) -> Result<T, BodyError> {
        let value = self.raw_required(key)?;
        T::from_json(value, &self.path_of(key))
    }

    /// An optional key of type `T`, keeping the difference between absent and `null`.
    pub fn field<T: FromJson>(&self, key: &str) -> Result<Field<T>, BodyError> {
        match self.map.get(key) {
            None => Ok(Field::Absent),
            Some(Value::Null) => Ok(Field::Null),
            Some(v) => T::from_json(v, &self.path_of(key)).map(Field::Value),
        }
    }

    /// An optional key of type `T` where `null` means the same as absent.
    pub fn optional<T: FromJson>(&self, key: &str) -> Result<Option<T>, BodyError> {
        Ok(match self.field(key)? {
            Field::Value(v) => Some(v),
            Field::Absent | Field::Null => None,
        })
    }

    /// A required array, as its elements.
    pub fn required_array(&self, key: &str) -> Result<&'a [Value], BodyError> {
        self.raw_required(key)?
            .as_array()
            .map(Vec::as_slice)
            .ok_or_else(|| BodyError::WrongType(self.path_of(key)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_render_like_the_contract() {
        let p = JsonPath::root("list_items").index(3).field("name");
        assert_eq!(p.to_string(), "list_items[3].name");
        assert_eq!(JsonPath::default().field("ids").index(2).as_str(), "ids[2]");
    }

    #[test]
    fn missing_null_and_wrong_type_are_told_apart() {
        let body = json!({"a": null, "b": "x", "c": 5});
        let root = JsonPath::default();
        let obj = Obj::at(&body, &root).unwrap();
        assert_eq!(
            obj.required::<String>("a").unwrap_err().to_string(),
            "Wrong JSON body: no value for `a`"
        );
        assert_eq!(
            obj.required::<String>("zz").unwrap_err().to_string(),
            "Wrong JSON body: no value for `zz`"
        );
        assert_eq!(
            obj.required::<bool>("b").unwrap_err().to_string(),
            "Wrong JSON body: value `b` was of the wrong type"
        );
        assert_eq!(obj.field::<String>("a").unwrap(), Field::Null);
        assert_eq!(obj.field::<String>("nope").unwrap(), Field::Absent);
        assert_eq!(obj.field::<String>("b").unwrap(), Field::Value("x".into()));
        assert!(obj.required::<Uuid>("c").is_err());
    }

    #[test]
    fn non_objects_and_garbage_are_malformed() {
        assert_eq!(parse_object(b"[1]").unwrap_err(), BodyError::Malformed);
        assert_eq!(parse_object(b"{").unwrap_err(), BodyError::Malformed);
        assert_eq!(parse_object(b"").unwrap_err(), BodyError::Malformed);
        assert!(parse_object(b"{}").is_ok());
    }

    #[test]
    fn field_apply_keeps_clears_or_sets() {
        assert_eq!(Field::<u8>::Absent.apply(Some(1)), Some(1));
        assert_eq!(Field::<u8>::Null.apply(Some(1)), None);
        assert_eq!(Field::Value(2).apply(Some(1)), Some(2));
    }
}
