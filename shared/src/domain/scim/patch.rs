//! SCIM PATCH (RFC 7644 §3.5.2) as identity providers send it, applied to a resource's
//! JSON: `add`, `replace` and `remove` in any case (Entra sends `"Replace"`), a `path`
//! that is an attribute, a sub-attribute (`name.givenName`), a value filter on a
//! multi-valued attribute (`emails[type eq "work"].value`) or any of these behind a schema
//! URN; and a path-less operation whose `value` object names attributes by the same
//! paths (Entra's `{"name.givenName": "Ann"}`, schema URNs as keys).
//!
//! The resource is edited as JSON under its canonical attribute names (which attributes
//! exist is the caller's [`Attributes`]); what the edited resource means is decided
//! afterwards, as for a PUT, so a PATCH can never write what a PUT could not.

use serde_json::{Map, Value};

/// The most operations one PATCH may carry.
pub const MAX_OPERATIONS: usize = 100;

/// What a PATCH may name: the resource's attributes, by schema.
pub trait Attributes {
    /// The canonical name of attribute `name` (any case) of schema `schema` (`None`: the
    /// core schema, or any schema whose attribute has that name), and the schema URN it
    /// lives under in the resource (`None`: at the top level); `None` if there is no such
    /// attribute.
    fn resolve(
        &self,
        schema: Option<&str>,
        name: &str,
    ) -> Option<(Option<&'static str>, &'static str)>;

    /// The canonical name of sub-attribute `sub` of `attribute`; `None` if it has none.
    fn sub_attribute(&self, attribute: &str, sub: &str) -> Option<&'static str>;

    /// Whether `attribute` is multi-valued.
    fn multi_valued(&self, attribute: &str) -> bool;

    /// The canonical URN of the extension schema `urn` (any case), whose object a path
    /// may name as a whole; `None` if there is no such extension.
    fn extension(&self, urn: &str) -> Option<&'static str>;
}

/// An operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `add`.
    Add,
    /// `replace`.
    Replace,
    /// `remove`.
    Remove,
}

/// Why a PATCH is refused; `scim_type` is its SCIM `scimType`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct PatchError {
    /// `invalidSyntax`, `invalidPath`, `noTarget`, `invalidValue` or `tooMany`.
    pub scim_type: &'static str,
    /// For people.
    pub detail: String,
}

fn refuse(scim_type: &'static str, detail: impl Into<String>) -> PatchError {
    PatchError {
        scim_type,
        detail: detail.into(),
    }
}

/// A parsed path.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Path {
    /// The schema URN the attribute lives under (`None`: top level).
    container: Option<&'static str>,
    attribute: &'static str,
    /// `[sub eq "value"]` on a multi-valued attribute.
    filter: Option<(&'static str, String)>,
    /// `.sub` after the attribute or the filter.
    sub: Option<&'static str>,
}

/// Applies the operations of a PATCH request body (`{"schemas": [...PatchOp],
/// "Operations": [...]}`) to `resource`, in order.
pub fn apply(
    body: &Value,
    resource: &mut Map<String, Value>,
    attributes: &dyn Attributes,
) -> Result<(), PatchError> {
    let ops = body
        .get("Operations")
        .or_else(|| body.get("operations"))
        .and_then(Value::as_array)
        .ok_or_else(|| refuse("invalidSyntax", "A PATCH needs a list of Operations"))?;
    if ops.len() > MAX_OPERATIONS {
        return Err(refuse(
            "tooMany",
            format!("A PATCH may carry at most {MAX_OPERATIONS} operations"),
        ));
    }
    for (i, op) in ops.iter().enumerate() {
        apply_one(op, resource, attributes).map_err(|e| PatchError {
            detail: format!("Operations[{i}]: {}", e.detail),
            ..e
        })?;
    }
    Ok(())
}

fn apply_one(
    op: &Value,
    resource: &mut Map<String, Value>,
    attributes: &dyn Attributes,
) -> Result<(), PatchError> {
    let kind = match op
        .get("op")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
    {
        Some(k) if k == "add" => Op::Add,
        Some(k) if k == "replace" => Op::Replace,
        Some(k) if k == "remove" => Op::Remove,
        _ => {
            return Err(refuse(
                "invalidSyntax",
                "`op` must be add, replace or remove",
            ));
        }
    };
    let value = op.get("value");
    match op.get("path") {
        Some(Value::String(path)) if !path.trim().is_empty() => {
            let path = parse_path(path, attributes)?;
            if kind != Op::Remove && value.is_none() {
                return Err(refuse("invalidValue", "`value` is required"));
            }
            edit(kind, &path, value.cloned(), resource, attributes)
        }
        None | Some(Value::Null) | Some(Value::String(_)) => {
            if kind == Op::Remove {
                return Err(refuse("noTarget", "`remove` needs a `path`"));
            }
            let Some(Value::Object(values)) = value else {
                return Err(refuse(
                    "invalidValue",
                    "an operation without a path needs an object `value`",
                ));
            };
            for (key, v) in values {
                pathless(kind, key, v, resource, attributes)?;
            }
            Ok(())
        }
        Some(_) => Err(refuse("invalidPath", "`path` must be a string")),
    }
}

/// One member of a path-less operation's value: an attribute path, or a schema URN whose
/// value object holds that schema's attributes.
fn pathless(
    kind: Op,
    key: &str,
    value: &Value,
    resource: &mut Map<String, Value>,
    attributes: &dyn Attributes,
) -> Result<(), PatchError> {
    if let (true, Value::Object(inner)) = (is_schema_urn(key), value) {
        for (k, v) in inner {
            if k == "schemas" {
                continue;
            }
            let path = parse_path(&format!("{key}:{k}"), attributes)?;
            edit(kind, &path, Some(v.clone()), resource, attributes)?;
        }
        return Ok(());
    }
    let path = parse_path(key, attributes)?;
    if path.filter.is_none() && path.sub.is_none() {
        // A complex value replaces or merges sub-attribute by sub-attribute (RFC 7644
        // §3.5.2.1: "add" of a complex attribute sets the given sub-attributes).
        if let (Value::Object(members), false) = (value, attributes.multi_valued(path.attribute))
            && members
                .keys()
                .all(|k| attributes.sub_attribute(path.attribute, k).is_some())
        {
            for (k, v) in members {
                let sub = Path {
                    sub: attributes.sub_attribute(path.attribute, k),
                    ..path.clone()
                };
                edit(kind, &sub, Some(v.clone()), resource, attributes)?;
            }
            return Ok(());
        }
    }
    edit(kind, &path, Some(value.clone()), resource, attributes)
}

/// Whether `s` is a schema URN without an attribute (`urn:...:2.0:User`).
fn is_schema_urn(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    lower.starts_with("urn:") && (lower.ends_with(":user") || lower.ends_with(":user:"))
}

fn parse_path(text: &str, attributes: &dyn Attributes) -> Result<Path, PatchError> {
    let unknown = || refuse("invalidPath", format!("Unknown attribute path `{text}`"));
    let text = text.trim();
    if let Some(urn) = attributes.extension(text) {
        // An extension's object as a whole.
        return Ok(Path {
            container: None,
            attribute: urn,
            filter: None,
            sub: None,
        });
    }
    // A schema URN prefix: everything up to the last ':' before the attribute.
    let (schema, rest) = match text.to_ascii_lowercase().starts_with("urn:") {
        true => {
            let head_end = text.find('[').unwrap_or(text.len());
            let colon = text[..head_end].rfind(':').ok_or_else(unknown)?;
            (Some(&text[..colon]), &text[colon + 1..])
        }
        false => (None, text),
    };
    let (head, filter, sub) = match rest.find('[') {
        Some(open) => {
            let close = rest.rfind(']').filter(|c| *c > open).ok_or_else(unknown)?;
            let after = &rest[close + 1..];
            let sub = match after.strip_prefix('.') {
                Some(s) => Some(s),
                None if after.is_empty() => None,
                None => return Err(unknown()),
            };
            (&rest[..open], Some(&rest[open + 1..close]), sub)
        }
        None => match rest.split_once('.') {
            Some((a, s)) => (a, None, Some(s)),
            None => (rest, None, None),
        },
    };
    let (container, attribute) = attributes.resolve(schema, head).ok_or_else(unknown)?;
    if filter.is_some() && !attributes.multi_valued(attribute) {
        return Err(unknown());
    }
    let filter = match filter {
        None => None,
        Some(f) => Some(value_filter(f, attribute, attributes).ok_or_else(|| {
            refuse(
                "invalidFilter",
                format!("Unsupported value filter `[{f}]`: only `<sub-attribute> eq \"value\"`"),
            )
        })?),
    };
    let sub = match sub {
        None => None,
        Some(s) => Some(attributes.sub_attribute(attribute, s).ok_or_else(unknown)?),
    };
    Ok(Path {
        container,
        attribute,
        filter,
        sub,
    })
}

/// `type eq "work"` inside brackets.
fn value_filter(
    text: &str,
    attribute: &str,
    attributes: &dyn Attributes,
) -> Option<(&'static str, String)> {
    let mut parts = text.trim().splitn(3, char::is_whitespace);
    let sub = attributes.sub_attribute(attribute, parts.next()?)?;
    if !parts.next()?.eq_ignore_ascii_case("eq") {
        return None;
    }
    let value = parts.next()?.trim();
    let value: Value = serde_json::from_str(value).ok()?;
    let value = match value {
        Value::String(s) => s,
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    Some((sub, value))
}

/// The object holding `path`'s attribute: the resource, or the extension object under
/// its schema URN (created when asked).
fn holder<'a>(
    resource: &'a mut Map<String, Value>,
    path: &Path,
    create: bool,
) -> Option<&'a mut Map<String, Value>> {
    match path.container {
        None => Some(resource),
        Some(urn) => {
            if create && !resource.get(urn).is_some_and(Value::is_object) {
                resource.insert(urn.to_owned(), Value::Object(Map::new()));
            }
            resource.get_mut(urn).and_then(Value::as_object_mut)
        }
    }
}

fn matches(element: &Value, filter: &(&'static str, String)) -> bool {
    match element.get(filter.0) {
        Some(Value::String(s)) => s.eq_ignore_ascii_case(&filter.1),
        Some(Value::Bool(b)) => b.to_string() == filter.1,
        _ => false,
    }
}

fn edit(
    kind: Op,
    path: &Path,
    value: Option<Value>,
    resource: &mut Map<String, Value>,
    attributes: &dyn Attributes,
) -> Result<(), PatchError> {
    let create = kind != Op::Remove;
    let Some(obj) = holder(resource, path, create) else {
        return Ok(()); // removing from an extension the resource does not have
    };
    let name = path.attribute;
    let multi = attributes.multi_valued(name);
    match (&path.filter, path.sub) {
        (None, None) => match kind {
            Op::Remove => {
                obj.remove(name);
            }
            Op::Add if multi => {
                let new = match value {
                    Some(Value::Array(items)) => items,
                    Some(v) => vec![v],
                    None => Vec::new(),
                };
                let list = obj.entry(name).or_insert_with(|| Value::Array(Vec::new()));
                if !list.is_array() {
                    *list = Value::Array(Vec::new());
                }
                if let Value::Array(items) = list {
                    for v in new {
                        if !items.contains(&v) {
                            items.push(v);
                        }
                    }
                }
            }
            Op::Add | Op::Replace => {
                let v = value.unwrap_or(Value::Null);
                let v = match (multi, v) {
                    (true, Value::Array(items)) => Value::Array(items),
                    (true, Value::Null) => Value::Null,
                    (true, other) => Value::Array(vec![other]),
                    (false, other) => other,
                };
                if v.is_null() {
                    obj.remove(name);
                } else {
                    obj.insert(name.to_owned(), v);
                }
            }
        },
        (None, Some(sub)) if !multi => {
            let parent = obj.entry(name).or_insert_with(|| Value::Object(Map::new()));
            if !parent.is_object() {
                *parent = Value::Object(Map::new());
            }
            let parent = parent.as_object_mut().expect("an object");
            match (kind, value) {
                (Op::Remove, _) | (_, None | Some(Value::Null)) => {
                    parent.remove(sub);
                }
                (_, Some(v)) => {
                    parent.insert(sub.to_owned(), v);
                }
            }
            if parent.is_empty() {
                obj.remove(name);
            }
        }
        (None, Some(sub)) => {
            // `emails.value` on a multi-valued attribute: every element.
            if let Some(Value::Array(items)) = obj.get_mut(name) {
                for item in items.iter_mut().filter_map(Value::as_object_mut) {
                    match (&kind, &value) {
                        (Op::Remove, _) | (_, None | Some(Value::Null)) => {
                            item.remove(sub);
                        }
                        (_, Some(v)) => {
                            item.insert(sub.to_owned(), v.clone());
                        }
                    }
                }
            } else if kind != Op::Remove
                && let Some(v) = value
            {
                let element = Map::from_iter([(sub.to_owned(), v)]);
                obj.insert(name.to_owned(), Value::Array(vec![Value::Object(element)]));
            }
        }
        (Some(filter), sub) => {
            let list = obj.entry(name).or_insert_with(|| Value::Array(Vec::new()));
            if !list.is_array() {
                *list = Value::Array(Vec::new());
            }
            let items = list.as_array_mut().expect("an array");
            let hits: Vec<usize> = (0..items.len())
                .filter(|i| matches(&items[*i], filter))
                .collect();
            match (kind, sub) {
                (Op::Remove, None) => {
                    let mut i = 0;
                    items.retain(|_| {
                        let keep = !hits.contains(&i);
                        i += 1;
                        keep
                    });
                }
                (Op::Remove, Some(sub)) => {
                    for i in hits {
                        if let Some(o) = items[i].as_object_mut() {
                            o.remove(sub);
                        }
                    }
                }
                (_, Some(sub)) if hits.is_empty() => {
                    // Entra replaces `emails[type eq "work"].value` of a user that has no
                    // work e-mail yet: the element is created with the filter's value.
                    let mut element = Map::new();
                    element.insert(filter.0.to_owned(), Value::String(filter.1.clone()));
                    element.insert(sub.to_owned(), value.unwrap_or(Value::Null));
                    items.push(Value::Object(element));
                }
                (_, Some(sub)) => {
                    for i in hits {
                        if let Some(o) = items[i].as_object_mut() {
                            o.insert(sub.to_owned(), value.clone().unwrap_or(Value::Null));
                        }
                    }
                }
                (_, None) => {
                    let Some(Value::Object(mut element)) = value else {
                        return Err(refuse(
                            "invalidValue",
                            "a filtered element needs an object value",
                        ));
                    };
                    element
                        .entry(filter.0)
                        .or_insert_with(|| Value::String(filter.1.clone()));
                    if hits.is_empty() {
                        items.push(Value::Object(element));
                    } else {
                        for i in hits {
                            items[i] = Value::Object(element.clone());
                        }
                    }
                }
            }
            if items.is_empty() {
                obj.remove(name);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    struct Users;

    impl Attributes for Users {
        fn resolve(
            &self,
            schema: Option<&str>,
            name: &str,
        ) -> Option<(Option<&'static str>, &'static str)> {
            let core = [
                "userName",
                "name",
                "displayName",
                "emails",
                "active",
                "externalId",
            ];
            let in_core = schema.is_none_or(|s| {
                s.eq_ignore_ascii_case("urn:ietf:params:scim:schemas:core:2.0:User")
            });
            if in_core && let Some(n) = core.iter().find(|n| n.eq_ignore_ascii_case(name)) {
                return Some((None, n));
            }
            let in_enterprise = schema.is_none_or(|s| s.eq_ignore_ascii_case(ENTERPRISE));
            (in_enterprise && name.eq_ignore_ascii_case("employeeNumber"))
                .then_some((Some(ENTERPRISE), "employeeNumber"))
        }

        fn sub_attribute(&self, attribute: &str, sub: &str) -> Option<&'static str> {
            let subs: &[&'static str] = match attribute {
                "name" => &["formatted", "givenName", "familyName"],
                "emails" => &["value", "type", "primary"],
                _ => &[],
            };
            subs.iter().find(|s| s.eq_ignore_ascii_case(sub)).copied()
        }

        fn multi_valued(&self, attribute: &str) -> bool {
            attribute == "emails"
        }

        fn extension(&self, urn: &str) -> Option<&'static str> {
            urn.eq_ignore_ascii_case(ENTERPRISE).then_some(ENTERPRISE)
        }
    }

    fn patched(start: Value, ops: Value) -> Result<Value, PatchError> {
        let mut resource = start.as_object().unwrap().clone();
        apply(&json!({ "Operations": ops }), &mut resource, &Users)?;
        Ok(Value::Object(resource))
    }

    #[test]
    fn entra_disables_with_a_capitalised_op_and_a_string() {
        let out = patched(
            json!({"userName": "ann", "active": true}),
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        )
        .unwrap();
        assert_eq!(
            out["active"], "False",
            "kept as sent; the mapping reads it as false"
        );
    }

    #[test]
    fn entra_edits_the_work_email_through_a_value_filter() {
        let start = json!({"emails": [{"type": "work", "value": "a@x.io", "primary": true},
                                      {"type": "home", "value": "h@x.io"}]});
        let out = patched(
            start.clone(),
            json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "b@x.io"}]),
        )
        .unwrap();
        assert_eq!(out["emails"][0]["value"], "b@x.io");
        assert_eq!(out["emails"][1]["value"], "h@x.io");
        let out = patched(
            json!({"userName": "ann"}),
            json!([{"op": "Add", "path": "emails[type eq \"work\"].value", "value": "c@x.io"}]),
        )
        .unwrap();
        assert_eq!(out["emails"], json!([{"type": "work", "value": "c@x.io"}]));
        let out = patched(
            start,
            json!([{"op": "Remove", "path": "emails[type eq \"home\"]"}]),
        )
        .unwrap();
        assert_eq!(out["emails"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn a_pathless_replace_takes_dotted_paths_and_schema_urns() {
        let out = patched(
            json!({"userName": "ann", "name": {"givenName": "Ann", "familyName": "Lee"}}),
            json!([{"op": "replace", "value": {
                "name.givenName": "Anna",
                "active": false,
                ENTERPRISE: {"employeeNumber": "42"},
                format!("{ENTERPRISE}:employeeNumber"): "43",
            }}]),
        )
        .unwrap();
        assert_eq!(
            out["name"],
            json!({"givenName": "Anna", "familyName": "Lee"})
        );
        assert_eq!(out["active"], false);
        assert_eq!(out[ENTERPRISE]["employeeNumber"], "43");
        let out = patched(
            json!({"name": {"givenName": "Ann", "familyName": "Lee"}}),
            json!([{"op": "replace", "value": {"name": {"givenName": "Bo"}}}]),
        )
        .unwrap();
        assert_eq!(
            out["name"],
            json!({"givenName": "Bo", "familyName": "Lee"}),
            "a complex value sets the sub-attributes it names"
        );
    }

    #[test]
    fn an_extension_is_added_replaced_and_removed_as_a_whole() {
        let out = patched(
            json!({"userName": "ann"}),
            json!([{"op": "add", "path": ENTERPRISE, "value": {"employeeNumber": "7"}}]),
        )
        .unwrap();
        assert_eq!(out[ENTERPRISE], json!({"employeeNumber": "7"}));
        let out = patched(out, json!([{"op": "remove", "path": ENTERPRISE}])).unwrap();
        assert_eq!(out, json!({"userName": "ann"}));
        let out = patched(
            out,
            json!([{"op": "remove", "path": format!("{ENTERPRISE}:employeeNumber")}]),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"userName": "ann"}),
            "removing what is absent succeeds"
        );
    }

    #[test]
    fn paths_are_case_insensitive_and_may_carry_the_core_urn() {
        let out = patched(
            json!({"userName": "ann"}),
            json!([
                {"op": "ADD", "path": "NAME.FAMILYNAME", "value": "Lee"},
                {"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:userName", "value": "bo"},
                {"op": "remove", "path": "externalId"},
            ]),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"userName": "bo", "name": {"familyName": "Lee"}})
        );
    }

    #[test]
    fn bad_patches_are_refused_with_their_scim_type() {
        let cases = [
            (json!([{"op": "move", "path": "active"}]), "invalidSyntax"),
            (
                json!([{"op": "add", "path": "title", "value": "x"}]),
                "invalidPath",
            ),
            (
                json!([{"op": "add", "path": "name.middle", "value": "x"}]),
                "invalidPath",
            ),
            (json!([{"op": "remove"}]), "noTarget"),
            (json!([{"op": "add", "value": "x"}]), "invalidValue"),
            (json!([{"op": "add", "path": "active"}]), "invalidValue"),
            (
                json!([{"op": "add", "path": "emails[type ne \"work\"].value", "value": "x"}]),
                "invalidFilter",
            ),
            (
                json!([{"op": "add", "path": "active[x eq \"y\"]", "value": "x"}]),
                "invalidPath",
            ),
        ];
        for (ops, scim_type) in cases {
            let e = patched(json!({}), ops.clone()).unwrap_err();
            assert_eq!(e.scim_type, scim_type, "{ops}: {}", e.detail);
        }
        let many: Vec<Value> = (0..=MAX_OPERATIONS)
            .map(|_| json!({"op": "add", "path": "active", "value": true}))
            .collect();
        assert_eq!(
            patched(json!({}), Value::Array(many))
                .unwrap_err()
                .scim_type,
            "tooMany"
        );
        let e = apply(&json!({}), &mut Map::new(), &Users).unwrap_err();
        assert_eq!(e.scim_type, "invalidSyntax");
    }
}
