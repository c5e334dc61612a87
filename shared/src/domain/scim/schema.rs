//! The SCIM User as this service stores it: one table of attributes from which the
//! published `/Schemas` documents are made and by which PATCH paths are resolved, so
//! that what is published, what can be patched and what is stored cannot drift apart.
//!
//! Only attributes really stored are published (identity providers and the conformance
//! testers write every published writable attribute and read it back).

use serde_json::{Value, json};

use super::patch::Attributes;

/// The core User schema.
pub const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The enterprise extension (accepted in requests, not stored: nothing of it is
/// published).
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// This product's extension: the access data of a user.
pub const ACCESS_USER: &str = "urn:bulk-user-api:params:scim:schemas:extension:access:2.0:User";

/// A SCIM attribute type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `string`.
    Text,
    /// `boolean`.
    Flag,
    /// `integer`.
    Number,
    /// `complex`, with sub-attributes.
    Complex,
}

/// Who may write an attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutability {
    /// Read and written.
    ReadWrite,
    /// Set by the server.
    ReadOnly,
    /// Written, never returned (PINs).
    WriteOnly,
}

/// One attribute of the table.
#[derive(Clone, Copy, Debug)]
pub struct Attribute {
    /// Its canonical name.
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Whether it holds a list.
    pub multi: bool,
    /// Whether a resource must have it.
    pub required: bool,
    /// Who writes it.
    pub mutability: Mutability,
    /// Unique across users (`server`), or not (`none`).
    pub unique: bool,
    /// Compared with case.
    pub case_exact: bool,
    /// Sub-attributes of a complex attribute.
    pub subs: &'static [Attribute],
    /// What it is, for people.
    pub description: &'static str,
    /// Canonical values (`emails.type`).
    pub canonical: &'static [&'static str],
}

const fn text(name: &'static str, description: &'static str) -> Attribute {
    Attribute {
        name,
        kind: Kind::Text,
        multi: false,
        required: false,
        mutability: Mutability::ReadWrite,
        unique: false,
        case_exact: false,
        subs: &[],
        description,
        canonical: &[],
    }
}

const NAME_SUBS: &[Attribute] = &[
    text(
        "formatted",
        "The full name; the same as displayName, the user's name in the directory.",
    ),
    text("givenName", "Given name."),
    text("familyName", "Family name."),
];

const EMAIL_SUBS: &[Attribute] = &[
    text(
        "value",
        "The address; the work (or primary, or first) one is the user's e-mail.",
    ),
    Attribute {
        canonical: &["work", "home", "other"],
        ..text("type", "work, home or other.")
    },
    Attribute {
        kind: Kind::Flag,
        ..text("primary", "The preferred address.")
    },
];

/// The attributes of the core User schema this service stores.
pub const CORE: &[Attribute] = &[
    Attribute {
        required: true,
        unique: true,
        ..text(
            "userName",
            "Unique across users, compared without regard to case; the identity provider's login.",
        )
    },
    Attribute {
        kind: Kind::Complex,
        subs: NAME_SUBS,
        ..text("name", "The user's name.")
    },
    text(
        "displayName",
        "The user's name in the directory (not unique); the same as name.formatted.",
    ),
    Attribute {
        kind: Kind::Complex,
        multi: true,
        subs: EMAIL_SUBS,
        ..text("emails", "E-mail addresses, kept as sent.")
    },
    Attribute {
        kind: Kind::Flag,
        ..text("active", "Whether the user may authenticate.")
    },
];

const FACE_SUBS: &[Attribute] = &[
    Attribute {
        mutability: Mutability::ReadOnly,
        ..text("format", "jpeg or png.")
    },
    Attribute {
        kind: Kind::Number,
        mutability: Mutability::ReadOnly,
        ..text("bytes", "The image's size.")
    },
    Attribute {
        mutability: Mutability::ReadOnly,
        case_exact: true,
        ..text("sha256", "The image's SHA-256, hex.")
    },
];

/// The attributes of this product's extension.
pub const ACCESS: &[Attribute] = &[
    Attribute {
        multi: true,
        unique: true,
        case_exact: true,
        ..text("cards", "Access card numbers, each unique across users.")
    },
    Attribute {
        multi: true,
        unique: true,
        case_exact: true,
        mutability: Mutability::WriteOnly,
        ..text("pins", "PINs, each unique across users; never returned.")
    },
    Attribute {
        kind: Kind::Complex,
        multi: true,
        mutability: Mutability::ReadOnly,
        subs: FACE_SUBS,
        ..text(
            "faces",
            "Face images (set through the bulk API), described.",
        )
    },
    Attribute {
        case_exact: true,
        ..text("roleId", "The user's role.")
    },
    Attribute {
        case_exact: true,
        ..text("userType", "The user's type.")
    },
    text("info", "Free text."),
    Attribute {
        case_exact: true,
        mutability: Mutability::ReadOnly,
        ..text(
            "timeProfileId",
            "The bound time profile (set through the bulk API, which checks that it exists).",
        )
    },
];

/// The attribute `name` of `table`, in any case.
pub fn find(table: &'static [Attribute], name: &str) -> Option<&'static Attribute> {
    table.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

/// Resolves PATCH paths against the stored User.
#[derive(Clone, Copy, Debug, Default)]
pub struct UserAttributes;

impl UserAttributes {
    fn attribute(name: &str) -> Option<&'static Attribute> {
        find(CORE, name).or_else(|| find(ACCESS, name))
    }
}

impl Attributes for UserAttributes {
    fn resolve(
        &self,
        schema: Option<&str>,
        name: &str,
    ) -> Option<(Option<&'static str>, &'static str)> {
        let core = || {
            find(CORE, name).map(|a| (None, a.name)).or_else(|| {
                name.eq_ignore_ascii_case("externalId")
                    .then_some((None, "externalId"))
            })
        };
        match schema {
            None => core().or_else(|| find(ACCESS, name).map(|a| (Some(ACCESS_USER), a.name))),
            Some(s) if s.eq_ignore_ascii_case(CORE_USER) => core(),
            Some(s) if s.eq_ignore_ascii_case(ACCESS_USER) => {
                find(ACCESS, name).map(|a| (Some(ACCESS_USER), a.name))
            }
            // Enterprise attributes are accepted and not kept.
            Some(s) if s.eq_ignore_ascii_case(ENTERPRISE_USER) => {
                Some((Some(ENTERPRISE_USER), "ignored"))
            }
            Some(_) => None,
        }
    }

    fn sub_attribute(&self, attribute: &str, sub: &str) -> Option<&'static str> {
        Self::attribute(attribute)
            .and_then(|a| find(a.subs, sub))
            .map(|s| s.name)
    }

    fn multi_valued(&self, attribute: &str) -> bool {
        Self::attribute(attribute).is_some_and(|a| a.multi)
    }

    fn extension(&self, urn: &str) -> Option<&'static str> {
        [ACCESS_USER, ENTERPRISE_USER]
            .into_iter()
            .find(|u| u.eq_ignore_ascii_case(urn))
    }
}

fn attribute_json(a: &Attribute) -> Value {
    let mut v = json!({
        "name": a.name,
        "type": match a.kind {
            Kind::Text => "string",
            Kind::Flag => "boolean",
            Kind::Number => "integer",
            Kind::Complex => "complex",
        },
        "multiValued": a.multi,
        "description": a.description,
        "required": a.required,
        "caseExact": a.case_exact,
        "mutability": match a.mutability {
            Mutability::ReadWrite => "readWrite",
            Mutability::ReadOnly => "readOnly",
            Mutability::WriteOnly => "writeOnly",
        },
        "returned": if a.mutability == Mutability::WriteOnly { "never" } else { "default" },
        "uniqueness": if a.unique { "server" } else { "none" },
    });
    if !a.subs.is_empty() {
        v["subAttributes"] = a.subs.iter().map(attribute_json).collect();
    }
    if !a.canonical.is_empty() {
        v["canonicalValues"] = json!(a.canonical);
    }
    v
}

/// The `/Schemas` documents, each with its `meta` under `base` (the service's URL).
pub fn schemas(base: &str) -> Vec<Value> {
    let doc = |id: &str, name: &str, description: &str, table: &[Attribute]| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": id,
            "name": name,
            "description": description,
            "attributes": table.iter().map(attribute_json).collect::<Vec<_>>(),
            "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{id}")},
        })
    };
    vec![
        doc(CORE_USER, "User", "User Account", CORE),
        doc(
            ACCESS_USER,
            "AccessUser",
            "The access data of a user: card and PIN numbers, face images, role, type, time profile",
            ACCESS,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_write_only_and_never_returned() {
        let docs = schemas("https://x/scim/v2");
        let access = &docs[1]["attributes"];
        let pins = access
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "pins")
            .unwrap();
        assert_eq!(pins["mutability"], "writeOnly");
        assert_eq!(pins["returned"], "never");
        assert_eq!(docs[0]["attributes"][0]["name"], "userName");
        assert_eq!(docs[0]["attributes"][0]["uniqueness"], "server");
        assert_eq!(
            docs[0]["meta"]["location"],
            format!("https://x/scim/v2/Schemas/{CORE_USER}")
        );
    }

    #[test]
    fn paths_resolve_to_canonical_names_under_their_schema() {
        let a = UserAttributes;
        assert_eq!(a.resolve(None, "USERNAME"), Some((None, "userName")));
        assert_eq!(a.resolve(None, "cards"), Some((Some(ACCESS_USER), "cards")));
        assert_eq!(a.resolve(Some(CORE_USER), "cards"), None);
        assert_eq!(a.resolve(None, "externalid"), Some((None, "externalId")));
        assert_eq!(a.resolve(None, "title"), None);
        assert_eq!(a.sub_attribute("emails", "VALUE"), Some("value"));
        assert_eq!(a.sub_attribute("name", "middleName"), None);
        assert!(a.multi_valued("emails") && a.multi_valued("cards") && !a.multi_valued("name"));
    }
}
