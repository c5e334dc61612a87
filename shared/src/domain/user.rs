//! What a user is and what a client sends about one: ids, names, identifiers, the
//! upsert item.
//!
//! Constructors validate, so a value of these types is always acceptable to the store
//! ("parse, don't validate"): everything is checked before the first DynamoDB call.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::domain::json::{BodyError, Field, FromJson, JsonPath, Obj};
use crate::domain::time::Timestamp;

/// A user's id. Clients call it `link_id`; the filter endpoint calls it `user_id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LinkId(Uuid);

impl LinkId {
    /// A fresh server-assigned id (UUID v4).
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }

    /// The underlying UUID.
    pub fn uuid(&self) -> Uuid {
        self.0
    }

    /// An id in any of the UUID forms; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Uuid::try_parse(s).ok().map(Self)
    }
}

impl From<Uuid> for LinkId {
    fn from(value: Uuid) -> Self {
        Self(value)
    }
}

impl fmt::Display for LinkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromJson for LinkId {
    fn from_json(value: &Value, path: &JsonPath) -> Result<Self, BodyError> {
        Uuid::from_json(value, path).map(Self)
    }
}

/// The formats a face image may have, told by its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    /// JPEG (`FF D8 FF`).
    Jpeg,
    /// PNG (its 8-byte signature).
    Png,
}

impl ImageFormat {
    /// The format of `bytes`, if they are a JPEG or a PNG.
    pub fn of(bytes: &[u8]) -> Option<Self> {
        const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF];
        const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
        if bytes.starts_with(JPEG) {
            Some(Self::Jpeg)
        } else if bytes.starts_with(PNG) {
            Some(Self::Png)
        } else {
            None
        }
    }

    /// Its name in answers: `jpeg` or `png`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Jpeg => "jpeg",
            Self::Png => "png",
        }
    }
}

/// What the API shows of a stored face image instead of its bytes: `format` (`jpeg`,
/// `png`), `bytes` and the image's `sha256` (hex), so a client can tell whether it
/// changed without downloading it. The read API and SCIM show the same.
pub fn face_description(image: &[u8]) -> serde_json::Map<String, Value> {
    use sha2::{Digest, Sha256};
    let sha256: String = Sha256::digest(image)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut out = serde_json::Map::new();
    out.insert(
        "format".into(),
        ImageFormat::of(image).map_or(Value::Null, |f| Value::from(f.as_str())),
    );
    out.insert("bytes".into(), Value::from(image.len()));
    out.insert("sha256".into(), Value::from(sha256));
    out
}

/// Longest accepted user name, in characters; keeps name-registry keys far below
/// DynamoDB's 2048-byte partition-key limit.
pub const MAX_NAME_CHARS: usize = 256;
/// Longest accepted free-text field (`info`, `email`, `role_id`, `user_type`), in characters.
pub const MAX_TEXT_CHARS: usize = 1024;
/// Longest accepted identifier number (card, PIN), in characters.
pub const MAX_NUMBER_CHARS: usize = 64;

/// Whether `s` holds a C0 control character (U+0000 to U+001F). Names and identifier
/// numbers are matched exactly and shown by access-control terminals and logs, where a
/// NUL, an escape sequence or a line break is invisible or harmful; such values are
/// refused as being of the wrong type.
pub fn has_control_chars(s: &str) -> bool {
    s.chars().any(|c| c <= '\u{1F}')
}

/// A user's display name: the key of name matching, compared exactly (case and spaces count).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserName(String);

impl UserName {
    /// Accepts 1..=[`MAX_NAME_CHARS`] characters that are not all white space and hold no
    /// control character (see [`has_control_chars`]).
    pub fn parse(s: &str) -> Option<Self> {
        let ok =
            !s.trim().is_empty() && s.chars().count() <= MAX_NAME_CHARS && !has_control_chars(s);
        ok.then(|| Self(s.to_owned()))
    }

    /// The name as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromJson for UserName {
    fn from_json(value: &Value, path: &JsonPath) -> Result<Self, BodyError> {
        value
            .as_str()
            .and_then(Self::parse)
            .ok_or_else(|| BodyError::WrongType(path.clone()))
    }
}

/// Bounded free text (`info`, `email`, `role_id`, `user_type`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text(String);

impl Text {
    /// The text as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Accepts at most [`MAX_TEXT_CHARS`] characters.
    pub fn parse(s: &str) -> Option<Self> {
        (s.chars().count() <= MAX_TEXT_CHARS).then(|| Self(s.to_owned()))
    }
}

impl FromJson for Text {
    fn from_json(value: &Value, path: &JsonPath) -> Result<Self, BodyError> {
        value
            .as_str()
            .and_then(Text::parse)
            .ok_or_else(|| BodyError::WrongType(path.clone()))
    }
}

/// The kinds of numbered identifiers; a number is unique across users within its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NumberKind {
    /// An access card number.
    Card,
    /// A PIN code.
    Pin,
    /// A SCIM `userName`, by its lower case (unique like the numbers, never an
    /// authentication factor).
    UserName,
}

impl NumberKind {
    /// The name used in requests and in stored keys.
    pub fn as_str(&self) -> &'static str {
        match self {
            NumberKind::Card => "card",
            NumberKind::Pin => "pin",
            NumberKind::UserName => "user_name",
        }
    }
}

/// A numbered identifier: what `number_taken_by_another_identifier` is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identifier {
    /// Card or PIN.
    pub kind: NumberKind,
    /// The number as sent (digits or any short string).
    pub number: String,
}

/// One entry of `auth_factors`, structurally valid. Business checks (face support, image
/// content, limits) happen later and fail the item, not the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthFactorInput {
    /// A card or PIN number.
    Number(Identifier),
    /// A face image, base64 as sent.
    Face {
        /// Base64 (standard alphabet) of a JPEG or PNG image.
        image_base64: String,
    },
}

impl FromJson for AuthFactorInput {
    fn from_json(value: &Value, path: &JsonPath) -> Result<Self, BodyError> {
        let obj = Obj::at(value, path)?;
        let type_path = obj.path_of("type");
        let kind: String = obj.required("type")?;
        let number_kind = match kind.as_str() {
            "card" => NumberKind::Card,
            "pin" => NumberKind::Pin,
            "face" => {
                let image_base64: String = obj.required("image")?;
                return Ok(AuthFactorInput::Face { image_base64 });
            }
            _ => return Err(BodyError::WrongType(type_path)),
        };
        let number_path = obj.path_of("number");
        let number = match obj.raw_required("number")? {
            Value::String(s) => s.clone(),
            Value::Number(n) if n.is_u64() => n.to_string(),
            _ => return Err(BodyError::WrongType(number_path)),
        };
        if number.is_empty()
            || number.chars().count() > MAX_NUMBER_CHARS
            || has_control_chars(&number)
        {
            return Err(BodyError::WrongType(number_path));
        }
        Ok(AuthFactorInput::Number(Identifier {
            kind: number_kind,
            number,
        }))
    }
}

/// One user of an upsert request, structurally valid.
///
/// Optional fields follow merge semantics on update: absent keeps the stored value,
/// `null` clears it. `name` and `auth_factors` are always sent and always replace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserInput {
    /// The user's id when the client knows it; otherwise the user is matched by name.
    pub link_id: Option<LinkId>,
    /// Display name; the key of name matching.
    pub name: UserName,
    /// Free text; the original contract recommends it for identifying users.
    pub info: Field<Text>,
    /// E-mail address (not verified).
    pub email: Field<Text>,
    /// Role reference, opaque to this service.
    pub role_id: Field<Text>,
    /// User type, opaque to this service (employee, visitor, ...).
    pub user_type: Field<Text>,
    /// Whether the user may authenticate; `true` for new users when absent.
    pub active: Option<bool>,
    /// At least one factor (validated here).
    pub auth_factors: Vec<AuthFactorInput>,
    /// Bound time profile; must exist.
    pub time_profile_id: Field<Uuid>,
    /// Presence state as reported by the access-control system.
    pub is_online: Option<bool>,
    /// Address of the last login.
    pub login_ip: Field<IpAddr>,
    /// Time of the last login.
    pub last_login_time: Field<Timestamp>,
    /// What SCIM keeps of the user; `None` (every bulk request) keeps the stored one.
    pub scim: Option<crate::domain::scim::user::ScimProfile>,
}

/// Why an item of an upsert request makes the whole request invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UserInputError {
    /// A missing or ill-typed field.
    #[error(transparent)]
    Body(#[from] BodyError),
    /// `auth_factors: []`; the contract's own text.
    #[error("auth_factors must contain at least one item")]
    EmptyAuthFactors,
}

/// `email`: bounded text, and not empty. It keys the `email-index`, and DynamoDB refuses
/// an empty string as an index key, so an empty e-mail could never be stored; it is the
/// wrong type here rather than a failed write later. `null` clears it.
fn email(obj: &Obj<'_>) -> Result<Field<Text>, BodyError> {
    let email: Field<Text> = obj.field("email")?;
    if email.value().is_some_and(|e| e.as_str().is_empty()) {
        return Err(BodyError::WrongType(obj.path_of("email")));
    }
    Ok(email)
}

impl UserInput {
    /// Reads one element of `list_items` at `path`.
    pub fn from_json(value: &Value, path: &JsonPath) -> Result<Self, UserInputError> {
        let obj = Obj::at(value, path)?;
        let link_id = obj.optional("link_id")?;
        let name = obj.required("name")?;
        let factors_path = obj.path_of("auth_factors");
        let raw_factors = obj.required_array("auth_factors")?;
        let auth_factors = raw_factors
            .iter()
            .enumerate()
            .map(|(i, v)| AuthFactorInput::from_json(v, &factors_path.index(i)))
            .collect::<Result<Vec<_>, _>>()?;
        let user = Self {
            link_id,
            name,
            info: obj.field("info")?,
            email: email(&obj)?,
            role_id: obj.field("role_id")?,
            user_type: obj.field("user_type")?,
            active: obj.optional("active")?,
            auth_factors,
            time_profile_id: obj.field("time_profile_id")?,
            is_online: obj.optional("is_online")?,
            login_ip: obj.field("login_ip")?,
            last_login_time: obj.field("last_login_time")?,
            scim: None,
        };
        if user.auth_factors.is_empty() {
            return Err(UserInputError::EmptyAuthFactors);
        }
        Ok(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<UserInput, UserInputError> {
        UserInput::from_json(&v, &JsonPath::root("list_items").index(0))
    }

    #[test]
    fn a_full_user_parses() {
        let u = parse(json!({
            "link_id": "91c615e3-1040-4815-8ecb-039a18b756b5",
            "name": "Ann", "info": "x", "email": null, "active": false,
            "auth_factors": [{"type": "card", "number": 123}, {"type": "pin", "number": "0042"}],
            "login_ip": "10.0.0.1", "last_login_time": "2026-02-04T02:49:44.2094022+01:00"
        }))
        .unwrap();
        assert_eq!(u.name.as_str(), "Ann");
        assert_eq!(u.email, Field::Null);
        assert_eq!(u.role_id, Field::Absent);
        assert_eq!(u.active, Some(false));
        assert_eq!(u.auth_factors.len(), 2);
        assert_eq!(
            u.last_login_time.value().unwrap().to_db_string(),
            "2026-02-04T01:49:44.209Z"
        );
    }

    #[test]
    fn errors_name_the_json_path() {
        let e = parse(json!({"auth_factors": [{"type": "card", "number": "1"}]})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Wrong JSON body: no value for `list_items[0].name`"
        );
        let e = parse(json!({"name": "a", "active": "yes", "auth_factors": [{"type": "card", "number": "1"}]}))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Wrong JSON body: value `list_items[0].active` was of the wrong type"
        );
        let e = parse(json!({"name": "a", "auth_factors": [{"type": "card"}]})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Wrong JSON body: no value for `list_items[0].auth_factors[0].number`"
        );
        let e = parse(json!({"name": "a", "auth_factors": [{"type": "iris", "number": "1"}]}))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Wrong JSON body: value `list_items[0].auth_factors[0].type` was of the wrong type"
        );
        let e = parse(json!({"name": "a", "auth_factors": []})).unwrap_err();
        assert_eq!(e.to_string(), "auth_factors must contain at least one item");
        let e = parse(json!({"name": "a", "link_id": "nope", "auth_factors": [{"type": "pin", "number": "1"}]}))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Wrong JSON body: value `list_items[0].link_id` was of the wrong type"
        );
    }

    #[test]
    fn an_empty_email_is_the_wrong_type_and_null_clears_it() {
        let e = parse(
            json!({"name": "a", "email": "", "auth_factors": [{"type": "pin", "number": "1"}]}),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Wrong JSON body: value `list_items[0].email` was of the wrong type"
        );
        let u = parse(
            json!({"name": "a", "email": null, "auth_factors": [{"type": "pin", "number": "1"}]}),
        )
        .unwrap();
        assert_eq!(u.email, Field::Null);
        let u = parse(
            json!({"name": "a", "email": " ", "auth_factors": [{"type": "pin", "number": "1"}]}),
        )
        .unwrap();
        assert_eq!(u.email.value().map(Text::as_str), Some(" "));
    }

    #[test]
    fn blank_names_are_rejected() {
        assert!(UserName::parse("  ").is_none());
        assert!(UserName::parse(&"x".repeat(MAX_NAME_CHARS + 1)).is_none());
        assert!(UserName::parse(" Ann ").is_some());
    }

    #[test]
    fn control_characters_in_names_and_numbers_are_the_wrong_type() {
        for bad in ["Ann\u{0}", "\u{1b}[2JAnn", "Ann\nLee", "\tAnn", "Ann\u{1f}"] {
            let e = parse(json!({"name": bad, "auth_factors": [{"type": "card", "number": "1"}]}))
                .unwrap_err();
            assert_eq!(
                e.to_string(),
                "Wrong JSON body: value `list_items[0].name` was of the wrong type",
                "{bad:?}"
            );
            let e = parse(json!({"name": "Ann", "auth_factors": [
                {"type": "pin", "number": "1"}, {"type": "card", "number": format!("12{bad}")}
            ]}))
            .unwrap_err();
            assert_eq!(
                e.to_string(),
                "Wrong JSON body: value `list_items[0].auth_factors[1].number` was of the wrong type",
                "{bad:?}"
            );
        }
        // Just outside the range: DEL and other printable characters stay accepted.
        assert!(UserName::parse("Ann\u{7f} Lee\u{20}\u{a0}Ö").is_some());
        assert!(
            parse(json!({"name": "Ann", "auth_factors": [{"type": "card", "number": "12 34-Ö"}]}))
                .is_ok()
        );
    }

    #[test]
    fn timestamps_outside_years_0000_to_9999_do_not_exist() {
        // In UTC these are past 9999 or before 0000: refused, not a panic.
        assert_eq!(Timestamp::parse_rfc3339("9999-12-31T23:00:00-23:59"), None);
        assert_eq!(Timestamp::parse_rfc3339("0000-01-01T00:00:00+00:01"), None);
        assert!(Timestamp::parse_rfc3339("9999-12-31T23:59:59.999Z").is_some());
        assert!(Timestamp::parse_rfc3339("0000-01-01T00:00:00Z").is_some());
        assert_eq!(Timestamp::from_unix_seconds(i64::MAX), None);
        assert_eq!(Timestamp::from_unix_seconds(i64::MIN), None);
        assert_eq!(Timestamp::from_unix_seconds(253_402_300_800), None);
        assert_eq!(
            Timestamp::from_unix_seconds(-62_167_219_200)
                .unwrap()
                .to_db_string(),
            "0000-01-01T00:00:00.000Z"
        );
        let now = Timestamp::parse_rfc3339("2026-06-01T00:00:00Z").unwrap();
        let day = std::time::Duration::from_secs(86_400);
        assert_eq!(
            now.checked_sub(day).unwrap().to_db_string(),
            "2026-05-31T00:00:00.000Z"
        );
        assert_eq!(now.checked_sub(day * 1_000_000), None);
        assert_eq!(now.checked_sub(std::time::Duration::MAX), None);
        assert_eq!(
            now.checked_sub(std::time::Duration::from_secs(u64::MAX)),
            None
        );
    }

    #[test]
    fn timestamps_sort_as_strings() {
        let a = Timestamp::parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
        let b = Timestamp::parse_rfc3339("2026-01-01T00:00:00.5+00:00").unwrap();
        assert!(a.to_db_string() < b.to_db_string());
        assert_eq!(
            Timestamp::from_unix_seconds(0).unwrap().to_db_string(),
            "1970-01-01T00:00:00.000Z"
        );
    }
}
