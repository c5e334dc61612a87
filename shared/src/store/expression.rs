//! Conditions on stored users that carry no value in their text.
//!
//! A filter delete finds users by a scan filtered with an expression and deletes each one
//! on the same expression as its condition. Its values come from a client's query string,
//! so they must never become expression text: an [`Expression`] is only built from named
//! attributes compared with values, every attribute behind a `#name` placeholder and
//! every value behind a `:value` placeholder.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::keys::{PK, USER_PREFIX};

/// How a stored attribute is compared with a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    /// Equal to the value.
    Equal,
    /// Greater than the value (strings compare in byte order, so stored times compare in
    /// time order).
    Greater,
    /// Less than the value.
    Less,
}

impl Comparison {
    fn operator(self) -> &'static str {
        match self {
            Comparison::Equal => "=",
            Comparison::Greater => ">",
            Comparison::Less => "<",
        }
    }

    /// Tells apart the placeholders of two bounds on one attribute (`:f_create_time_gt`).
    fn suffix(self) -> &'static str {
        match self {
            Comparison::Equal => "",
            Comparison::Greater => "_gt",
            Comparison::Less => "_lt",
        }
    }
}

/// A value an attribute is compared with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A string attribute (times in their stored form).
    Text(String),
    /// A boolean attribute.
    Flag(bool),
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Flag(v)
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}

/// A condition on a user item: terms joined by AND, with their placeholders.
///
/// Placeholders start with `f_` so that the expression can be joined with the store's
/// own conditions (`version = :v`) without a clash.
#[derive(Clone, Debug, PartialEq)]
pub struct Expression {
    text: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expression {
    /// The items of live users: a `USER#` key and no `deleted_at` (soft-deleted users
    /// belong to the scheduled clean-up, never to a filter).
    pub fn live_users() -> Self {
        let mut e = Self::users();
        e.text.push_str(" AND attribute_not_exists(#f_deleted_at)");
        e.names.insert("#f_deleted_at".into(), "deleted_at".into());
        e
    }

    /// The items of users, soft-deleted ones included: a `USER#` key.
    pub fn users() -> Self {
        Self {
            text: "begins_with(#f_pk, :f_user)".into(),
            names: HashMap::from([("#f_pk".into(), PK.into())]),
            values: HashMap::from([(":f_user".into(), AttributeValue::S(USER_PREFIX.into()))]),
        }
    }

    /// Adds the term `attribute <comparison> value`. The attribute is a name this code
    /// chooses (a static string of letters and underscores), the value anything at all.
    pub fn and(
        &mut self,
        attribute: &'static str,
        comparison: Comparison,
        value: impl Into<Value>,
    ) -> &mut Self {
        debug_assert!(
            attribute
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{attribute}: not an attribute name"
        );
        let name = format!("#f_{attribute}");
        let mut placeholder = format!(":f_{attribute}{}", comparison.suffix());
        // The same comparison twice (never made by the filter) keeps both values.
        let mut n = 1;
        while self.values.contains_key(&placeholder) {
            n += 1;
            placeholder = format!(":f_{attribute}{}_{n}", comparison.suffix());
        }
        self.text.push_str(&format!(
            " AND {name} {} {placeholder}",
            comparison.operator()
        ));
        self.names.insert(name, attribute.to_owned());
        self.values.insert(
            placeholder,
            match value.into() {
                Value::Text(s) => AttributeValue::S(s),
                Value::Flag(b) => AttributeValue::Bool(b),
            },
        );
        self
    }

    /// The expression text: placeholders only, never a value.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The `#name` placeholders.
    pub fn names(&self) -> &HashMap<String, String> {
        &self.names
    }

    /// The `:value` placeholders.
    pub fn values(&self) -> &HashMap<String, AttributeValue> {
        &self.values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_users_alone_is_the_key_prefix_and_no_soft_delete() {
        let e = Expression::live_users();
        assert_eq!(
            e.text(),
            "begins_with(#f_pk, :f_user) AND attribute_not_exists(#f_deleted_at)"
        );
        assert_eq!(e.names()["#f_pk"], "pk");
        assert_eq!(e.values()[":f_user"], AttributeValue::S("USER#".into()));
    }

    #[test]
    fn two_bounds_on_one_attribute_share_its_name_and_keep_their_values() {
        let mut e = Expression::live_users();
        e.and(
            "create_time",
            Comparison::Greater,
            "2026-01-01T00:00:00.000Z",
        )
        .and("create_time", Comparison::Less, "2026-02-01T00:00:00.000Z");
        assert!(e.text().ends_with(
            "#f_create_time > :f_create_time_gt AND #f_create_time < :f_create_time_lt"
        ));
        assert_eq!(e.names()["#f_create_time"], "create_time");
        assert_eq!(
            e.values()[":f_create_time_lt"],
            AttributeValue::S("2026-02-01T00:00:00.000Z".into())
        );
    }

    #[test]
    fn a_repeated_comparison_gets_a_placeholder_of_its_own() {
        let mut e = Expression::live_users();
        e.and("name", Comparison::Equal, "a")
            .and("name", Comparison::Equal, "b");
        assert!(
            e.text()
                .ends_with("#f_name = :f_name AND #f_name = :f_name_2")
        );
        assert_eq!(e.values()[":f_name"], AttributeValue::S("a".into()));
        assert_eq!(e.values()[":f_name_2"], AttributeValue::S("b".into()));
    }

    #[test]
    fn flags_are_stored_booleans() {
        let mut e = Expression::live_users();
        e.and("active", Comparison::Equal, false);
        assert_eq!(e.values()[":f_active"], AttributeValue::Bool(false));
    }
}
