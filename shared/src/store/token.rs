//! `ClientRequestToken`s for `TransactWriteItems`, derived from what the transaction does.
//!
//! DynamoDB treats a transaction sent again with the same token and the same actions
//! within ten minutes as the same request: if the first one was applied, the second is
//! answered as applied and changes nothing. A response lost on the way back (a dropped
//! connection, a timed-out attempt) is then harmless: the transaction is sent again with
//! the same token and the answer tells the truth. The token is a digest of the actions,
//! taken in a canonical order (attribute maps sorted by name), and of a `scope` the
//! caller draws at random per batch of work: retries of one transaction share a token,
//! while an identical transaction of another request never does (it would otherwise be
//! answered as already applied without being applied).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use sha2::{Digest, Sha256};

/// The longest token DynamoDB accepts is 36 characters; 32 hex digits carry 128 bits.
const TOKEN_HEX_DIGITS: usize = 32;

/// A random scope for [`request_token`]: one per batch of transactions.
pub fn new_scope() -> [u8; 16] {
    *uuid::Uuid::new_v4().as_bytes()
}

/// The token of a transaction of `actions` within `scope`.
pub fn request_token(scope: &[u8; 16], actions: &[TransactWriteItem]) -> String {
    let mut h = Canonical(Sha256::new());
    h.bytes(scope);
    h.len(actions.len());
    for a in actions {
        h.action(a);
    }
    let digest = h.0.finalize();
    let mut token = String::with_capacity(TOKEN_HEX_DIGITS);
    for b in digest.iter().take(TOKEN_HEX_DIGITS / 2) {
        token.push_str(&format!("{b:02x}"));
    }
    token
}

/// Feeds values into a digest unambiguously: every variable-length part is preceded by
/// its length and every choice by a tag.
struct Canonical(Sha256);

impl Canonical {
    fn len(&mut self, n: usize) {
        self.0.update((n as u64).to_be_bytes());
    }

    fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.0.update(b);
    }

    fn tag(&mut self, t: u8) {
        self.0.update([t]);
    }

    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            None => self.tag(0),
            Some(s) => {
                self.tag(1);
                self.bytes(s.as_bytes());
            }
        }
    }

    fn names(&mut self, m: Option<&HashMap<String, String>>) {
        let mut pairs: Vec<(&String, &String)> = m.into_iter().flatten().collect();
        pairs.sort();
        self.len(pairs.len());
        for (k, v) in pairs {
            self.bytes(k.as_bytes());
            self.bytes(v.as_bytes());
        }
    }

    fn map(&mut self, m: Option<&HashMap<String, AttributeValue>>) {
        let mut pairs: Vec<(&String, &AttributeValue)> = m.into_iter().flatten().collect();
        pairs.sort_by(|a, b| a.0.cmp(b.0));
        self.len(pairs.len());
        for (k, v) in pairs {
            self.bytes(k.as_bytes());
            self.value(v);
        }
    }

    fn strings(&mut self, tag: u8, items: &[String]) {
        self.tag(tag);
        self.len(items.len());
        for s in items {
            self.bytes(s.as_bytes());
        }
    }

    fn value(&mut self, v: &AttributeValue) {
        match v {
            AttributeValue::S(s) => {
                self.tag(1);
                self.bytes(s.as_bytes());
            }
            AttributeValue::N(n) => {
                self.tag(2);
                self.bytes(n.as_bytes());
            }
            AttributeValue::B(b) => {
                self.tag(3);
                self.bytes(b.as_ref());
            }
            AttributeValue::Bool(b) => {
                self.tag(4);
                self.tag(u8::from(*b));
            }
            AttributeValue::Null(_) => self.tag(5),
            AttributeValue::L(items) => {
                self.tag(6);
                self.len(items.len());
                for i in items {
                    self.value(i);
                }
            }
            AttributeValue::M(m) => {
                self.tag(7);
                self.map(Some(m));
            }
            AttributeValue::Ss(items) => self.strings(8, items),
            AttributeValue::Ns(items) => self.strings(9, items),
            AttributeValue::Bs(items) => {
                self.tag(10);
                self.len(items.len());
                for b in items {
                    self.bytes(b.as_ref());
                }
            }
            // A kind of value this code never writes; its debug form still tells it apart.
            other => {
                self.tag(11);
                self.bytes(format!("{other:?}").as_bytes());
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn part(
        &mut self,
        tag: u8,
        table: &str,
        key_or_item: Option<&HashMap<String, AttributeValue>>,
        update: Option<&str>,
        condition: Option<&str>,
        names: Option<&HashMap<String, String>>,
        values: Option<&HashMap<String, AttributeValue>>,
    ) {
        self.tag(tag);
        self.bytes(table.as_bytes());
        self.map(key_or_item);
        self.opt_str(update);
        self.opt_str(condition);
        self.names(names);
        self.map(values);
    }

    fn action(&mut self, a: &TransactWriteItem) {
        if let Some(p) = a.put() {
            self.part(
                1,
                p.table_name(),
                Some(p.item()),
                None,
                p.condition_expression(),
                p.expression_attribute_names(),
                p.expression_attribute_values(),
            );
        }
        if let Some(d) = a.delete() {
            self.part(
                2,
                d.table_name(),
                Some(d.key()),
                None,
                d.condition_expression(),
                d.expression_attribute_names(),
                d.expression_attribute_values(),
            );
        }
        if let Some(u) = a.update() {
            self.part(
                3,
                u.table_name(),
                Some(u.key()),
                Some(u.update_expression()),
                u.condition_expression(),
                u.expression_attribute_names(),
                u.expression_attribute_values(),
            );
        }
        if let Some(c) = a.condition_check() {
            self.part(
                4,
                c.table_name(),
                Some(c.key()),
                None,
                Some(c.condition_expression()),
                c.expression_attribute_names(),
                c.expression_attribute_values(),
            );
        }
        self.tag(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::Put;

    fn put(pairs: &[(&str, &str)], condition: &str) -> TransactWriteItem {
        let mut p = Put::builder()
            .table_name("t")
            .condition_expression(condition);
        for (k, v) in pairs {
            p = p.item(*k, AttributeValue::S((*v).to_owned()));
        }
        TransactWriteItem::builder().put(p.build().unwrap()).build()
    }

    #[test]
    fn the_same_actions_get_the_same_token_whatever_the_map_order() {
        let scope = [7u8; 16];
        let many: Vec<(String, String)> =
            (0..40).map(|i| (format!("a{i}"), i.to_string())).collect();
        let forward: Vec<(&str, &str)> =
            many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let backward: Vec<(&str, &str)> = forward.iter().rev().copied().collect();
        let a = request_token(&scope, &[put(&forward, "attribute_not_exists(pk)")]);
        let b = request_token(&scope, &[put(&backward, "attribute_not_exists(pk)")]);
        assert_eq!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn any_difference_in_content_or_scope_changes_the_token() {
        let scope = [7u8; 16];
        let base = request_token(&scope, &[put(&[("pk", "a")], "c")]);
        for other in [
            request_token(&scope, &[put(&[("pk", "b")], "c")]),
            request_token(&scope, &[put(&[("pk", "a")], "d")]),
            request_token(
                &scope,
                &[put(&[("pk", "a")], "c"), put(&[("pk", "a")], "c")],
            ),
            request_token(&[8u8; 16], &[put(&[("pk", "a")], "c")]),
            // Length prefixes keep ("ab","") and ("a","b") apart.
            request_token(&scope, &[put(&[("pka", "")], "c")]),
        ] {
            assert_ne!(base, other);
        }
    }
}
