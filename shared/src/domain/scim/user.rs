//! A SCIM User as clients send it (POST, PUT, and the result of a PATCH), read into the
//! product's terms. Unknown attributes (Entra's `roles: []`, `phoneNumbers: null`, the
//! enterprise extension, Okta's `password`, `locale`, `groups`) are accepted and ignored;
//! only what [`super::schema`] publishes is kept.
//!
//! - `userName` is required, unique across users without regard to case.
//! - `displayName` is the user's name in the directory; without one, `name.formatted`,
//!   then `givenName familyName`, then `userName`.
//! - `emails` are kept as sent; the user's e-mail is the work one, else the primary one,
//!   else the first.
//! - `active` is a boolean or Entra's `"True"`/`"False"`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::schema::{ACCESS_USER, CORE_USER};
use crate::domain::{MAX_NUMBER_CHARS, MAX_TEXT_CHARS, UserName, has_control_chars};

/// The longest `userName`, in characters (it keys its claim).
pub const MAX_USER_NAME_CHARS: usize = 256;
/// The most e-mail addresses one user may have.
pub const MAX_EMAILS: usize = 10;

/// An e-mail address as sent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    /// The address.
    pub value: String,
    /// `work`, `home`, `other`, or anything the client sent.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The preferred address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
}

/// What SCIM adds to a user: kept with it, written only through SCIM.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScimProfile {
    /// `userName`, as sent (its claim is by its lower case).
    pub user_name: String,
    /// `externalId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// `displayName`, as sent (the user's `name` shows it while unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `active` as sent; `None`: not sent (the user is active, and SCIM shows no
    /// `active` until it is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// `name.formatted`, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    /// `name.givenName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// `name.familyName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// `emails`, as sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<Email>,
}

impl ScimProfile {
    /// The key `userName` is unique by: its lower case.
    pub fn user_name_key(&self) -> String {
        self.user_name.to_lowercase()
    }
}

/// A SCIM User read into the product's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScimUser {
    /// What only SCIM keeps.
    pub profile: ScimProfile,
    /// The user's name in the directory.
    pub name: UserName,
    /// The user's e-mail (from `emails`).
    pub email: Option<String>,
    /// `active`; `None`: not sent.
    pub active: Option<bool>,
    /// Card numbers (the access extension).
    pub cards: Vec<String>,
    /// PINs (the access extension); `None`: not sent, the stored ones are kept (they
    /// are never returned, so a client that sends back what it read cannot send them).
    pub pins: Option<Vec<String>>,
    /// `roleId`.
    pub role_id: Option<String>,
    /// `userType`.
    pub user_type: Option<String>,
    /// `info`.
    pub info: Option<String>,
}

/// Why a User is refused: a SCIM 400 with this `scimType` and detail.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct UserError {
    /// `invalidSyntax` or `invalidValue`.
    pub scim_type: &'static str,
    /// For people.
    pub detail: String,
}

fn invalid(detail: impl Into<String>) -> UserError {
    UserError {
        scim_type: "invalidValue",
        detail: detail.into(),
    }
}

/// A member of `obj`, by name in any case.
fn member<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
}

fn text(obj: &Map<String, Value>, name: &str, max: usize) -> Result<Option<String>, UserError> {
    match member(obj, name) {
        None => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(invalid(format!("`{name}` is longer than {max} characters"))),
        Some(_) => Err(invalid(format!("`{name}` must be a string"))),
    }
}

/// A boolean, or the strings `"true"`/`"false"` in any case (Entra sends `"False"`).
pub fn flag(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn numbers(obj: Option<&Map<String, Value>>, name: &str) -> Result<Vec<String>, UserError> {
    Ok(sent_numbers(obj, name)?.unwrap_or_default())
}

fn sent_numbers(
    obj: Option<&Map<String, Value>>,
    name: &str,
) -> Result<Option<Vec<String>>, UserError> {
    let Some(v) = obj.and_then(|o| member(o, name)) else {
        return Ok(None);
    };
    let items = match v {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    };
    let mut out = Vec::new();
    for item in items {
        // A multi-valued string may arrive as {"value": "..."} (RFC 7643 §2.4).
        let s = match &item {
            Value::String(s) => s.clone(),
            Value::Object(o) => match member(o, "value") {
                Some(Value::String(s)) => s.clone(),
                _ => return Err(invalid(format!("`{name}` must hold strings"))),
            },
            _ => return Err(invalid(format!("`{name}` must hold strings"))),
        };
        let ok = !s.is_empty() && s.chars().count() <= MAX_NUMBER_CHARS && !has_control_chars(&s);
        if !ok {
            return Err(invalid(format!(
                "`{name}` values must be 1 to {MAX_NUMBER_CHARS} characters without control characters"
            )));
        }
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(Some(out))
}

fn emails(obj: &Map<String, Value>) -> Result<Vec<Email>, UserError> {
    let Some(v) = member(obj, "emails") else {
        return Ok(Vec::new());
    };
    let Value::Array(items) = v else {
        return Err(invalid("`emails` must be a list"));
    };
    if items.len() > MAX_EMAILS {
        return Err(invalid(format!("at most {MAX_EMAILS} `emails`")));
    }
    let mut out = Vec::new();
    for item in items {
        let Value::Object(e) = item else {
            return Err(invalid("each of `emails` must be an object"));
        };
        let Some(value) = text(e, "value", MAX_TEXT_CHARS)? else {
            continue;
        };
        let primary = match member(e, "primary") {
            None => None,
            Some(p) => Some(flag(p).ok_or_else(|| invalid("`emails.primary` must be a boolean"))?),
        };
        out.push(Email {
            value,
            kind: text(e, "type", 64)?,
            primary,
        });
    }
    Ok(out)
}

/// The user's e-mail among `emails`: the work one, else the primary one, else the first.
pub fn main_email(emails: &[Email]) -> Option<&Email> {
    emails
        .iter()
        .find(|e| {
            e.kind
                .as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case("work"))
        })
        .or_else(|| emails.iter().find(|e| e.primary == Some(true)))
        .or_else(|| emails.first())
}

impl ScimUser {
    /// Reads a User resource (a POST or PUT body, or a resource a PATCH edited).
    pub fn from_json(body: &Value) -> Result<Self, UserError> {
        let Value::Object(obj) = body else {
            return Err(UserError {
                scim_type: "invalidSyntax",
                detail: "A User must be a JSON object".into(),
            });
        };
        let is_user = member(obj, "schemas")
            .and_then(Value::as_array)
            .is_some_and(|s| {
                s.iter().any(|u| {
                    u.as_str()
                        .is_some_and(|u| u.eq_ignore_ascii_case(CORE_USER))
                })
            });
        if !is_user {
            return Err(UserError {
                scim_type: "invalidSyntax",
                detail: format!("`schemas` must list {CORE_USER}"),
            });
        }
        let user_name = match member(obj, "userName") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(Value::String(_)) | None => return Err(invalid("`userName` is required")),
            Some(_) => return Err(invalid("`userName` must be a string")),
        };
        if user_name.chars().count() > MAX_USER_NAME_CHARS || has_control_chars(&user_name) {
            return Err(invalid(format!(
                "`userName` must be at most {MAX_USER_NAME_CHARS} characters without control characters"
            )));
        }
        let name_obj = match member(obj, "name") {
            None => Map::new(),
            Some(Value::Object(n)) => n.clone(),
            Some(_) => return Err(invalid("`name` must be an object")),
        };
        let formatted = text(&name_obj, "formatted", MAX_TEXT_CHARS)?;
        let given_name = text(&name_obj, "givenName", MAX_TEXT_CHARS)?;
        let family_name = text(&name_obj, "familyName", MAX_TEXT_CHARS)?;
        let display = text(obj, "displayName", MAX_TEXT_CHARS)?;
        let joined = [given_name.as_deref(), family_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let shown = display
            .clone()
            .or_else(|| formatted.clone())
            .or_else(|| (!joined.is_empty()).then_some(joined))
            .unwrap_or_else(|| user_name.clone());
        let name = UserName::parse(&shown).ok_or_else(|| {
            invalid("`displayName` (or the name it is made of) must be 1 to 256 characters without control characters")
        })?;
        let active = match member(obj, "active") {
            None => None,
            Some(v) => Some(flag(v).ok_or_else(|| invalid("`active` must be a boolean"))?),
        };
        let emails = emails(obj)?;
        let email = main_email(&emails).map(|e| e.value.clone());
        let access = match member(obj, ACCESS_USER) {
            None => None,
            Some(Value::Object(a)) => Some(a),
            Some(_) => return Err(invalid(format!("`{ACCESS_USER}` must be an object"))),
        };
        let access_text = |name: &str| match access {
            Some(a) => text(a, name, MAX_TEXT_CHARS),
            None => Ok(None),
        };
        Ok(Self {
            profile: ScimProfile {
                user_name,
                external_id: text(obj, "externalId", MAX_TEXT_CHARS)?,
                display_name: display,
                active,
                formatted,
                given_name,
                family_name,
                emails,
            },
            name,
            email,
            active,
            cards: numbers(access, "cards")?,
            pins: sent_numbers(access, "pins")?,
            role_id: access_text("roleId")?,
            user_type: access_text("userType")?,
            info: access_text("info")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn what_entra_posts_is_read_and_its_extras_ignored() {
        let body = json!({
            "schemas": [CORE_USER, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7894b8d8e8b8",
            "userName": "Test_User_ab6490ee@contoso.com",
            "active": "True",
            "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b@contoso.com"}],
            "meta": {"resourceType": "User"},
            "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
            "roles": [],
            "phoneNumbers": null,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "42"},
        });
        let u = ScimUser::from_json(&body).unwrap();
        assert_eq!(u.profile.user_name, "Test_User_ab6490ee@contoso.com");
        assert_eq!(u.profile.user_name_key(), "test_user_ab6490ee@contoso.com");
        assert_eq!(u.name.as_str(), "givenName familyName");
        assert_eq!(u.email.as_deref(), Some("Test_User_fd0ea19b@contoso.com"));
        assert_eq!(u.active, Some(true));
        assert_eq!(u.profile.given_name.as_deref(), Some("givenName"));
    }

    #[test]
    fn the_name_falls_back_from_display_name_to_user_name() {
        let base = json!({"schemas": [CORE_USER], "userName": "ann@x.io"});
        assert_eq!(
            ScimUser::from_json(&base).unwrap().name.as_str(),
            "ann@x.io"
        );
        let mut b = base.clone();
        b["name"] = json!({"givenName": "Ann", "familyName": "Lee"});
        assert_eq!(ScimUser::from_json(&b).unwrap().name.as_str(), "Ann Lee");
        b["displayName"] = json!("Ann L.");
        assert_eq!(ScimUser::from_json(&b).unwrap().name.as_str(), "Ann L.");
    }

    #[test]
    fn access_data_comes_from_the_product_extension() {
        let u = ScimUser::from_json(&json!({
            "schemas": [CORE_USER, ACCESS_USER], "userName": "ann",
            ACCESS_USER: {"cards": ["4711", {"value": "4712"}], "pins": "1234", "roleId": "r"},
        }))
        .unwrap();
        assert_eq!(u.cards, ["4711", "4712"]);
        assert_eq!(u.pins, Some(vec!["1234".to_owned()]));
        assert_eq!(u.role_id.as_deref(), Some("r"));
    }

    #[test]
    fn bad_users_are_refused() {
        let cases = [
            (json!([1]), "invalidSyntax"),
            (json!({"userName": "ann"}), "invalidSyntax"),
            (json!({"schemas": [CORE_USER]}), "invalidValue"),
            (
                json!({"schemas": [CORE_USER], "userName": ""}),
                "invalidValue",
            ),
            (
                json!({"schemas": [CORE_USER], "userName": 7}),
                "invalidValue",
            ),
            (
                json!({"schemas": [CORE_USER], "userName": "a\u{0}b"}),
                "invalidValue",
            ),
            (
                json!({"schemas": [CORE_USER], "userName": "a", "active": "yes"}),
                "invalidValue",
            ),
            (
                json!({"schemas": [CORE_USER], "userName": "a", "emails": "a@b"}),
                "invalidValue",
            ),
            (
                json!({"schemas": [CORE_USER], "userName": "a", ACCESS_USER: {"cards": [""]}}),
                "invalidValue",
            ),
        ];
        for (body, scim_type) in cases {
            let e = ScimUser::from_json(&body).unwrap_err();
            assert_eq!(e.scim_type, scim_type, "{body}: {}", e.detail);
        }
    }
}
