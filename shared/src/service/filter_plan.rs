//! What a [`Filter`] means for stored users: where its candidates come from, whether a
//! user read matches, and the store expression that both filters a scan and conditions
//! each delete, so only users that still match at the moment of deletion are deleted.
//! Values only ever enter the expression as placeholders.

use std::collections::BTreeSet;

use crate::domain::filter::Filter;
use crate::domain::{LinkId, Timestamp};
use crate::store::expression::{Comparison, Expression};
use crate::store::records::UserRecord;

/// Where the candidates of a filter come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryPlan {
    /// `user_id` / `user_id_in`: these keys (batched gets).
    Ids(Vec<LinkId>),
    /// `email`: a Query on `email-index`.
    Email(String),
    /// `name`: the name registry.
    Name(String),
    /// Anything else: a parallel scan with the filter expression.
    Scan,
}

/// The cheapest way to find the candidates of `filter`.
pub fn query_plan(filter: &Filter) -> QueryPlan {
    let ids: Option<Vec<LinkId>> = match (&filter.user_id, &filter.user_id_in) {
        (Some(id), Some(list)) => Some(list.iter().filter(|i| *i == id).copied().collect()),
        (Some(id), None) => Some(vec![*id]),
        (None, Some(list)) => Some(list.clone()),
        (None, None) => None,
    };
    if let Some(ids) = ids {
        let mut seen = BTreeSet::new();
        return QueryPlan::Ids(ids.into_iter().filter(|i| seen.insert(*i)).collect());
    }
    if let Some(email) = &filter.email {
        return QueryPlan::Email(email.clone());
    }
    if let Some(name) = &filter.name {
        return QueryPlan::Name(name.clone());
    }
    QueryPlan::Scan
}

/// Which users a filter looks at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Scope {
    /// Live users only: every filter delete (soft-deleted users are the clean-up's).
    #[default]
    Live,
    /// Soft-deleted users too (a listing with `include_deleted=true`).
    WithDeleted,
}

/// Whether a user read from the table matches `filter` (soft-deleted users never do:
/// they are the clean-up's).
pub fn matches(filter: &Filter, u: &UserRecord) -> bool {
    matches_in(Scope::Live, filter, u)
}

/// Whether a user read from the table is in `scope` and matches `filter`.
pub fn matches_in(scope: Scope, filter: &Filter, u: &UserRecord) -> bool {
    let eq = |want: &Option<String>, have: &Option<String>| {
        want.as_ref()
            .is_none_or(|w| have.as_deref() == Some(w.as_str()))
    };
    let time_cmp = |have: Option<&str>, gt: &Option<Timestamp>, lt: &Option<Timestamp>| {
        let ok_gt = gt.is_none_or(|t| have.is_some_and(|h| h > t.to_db_string().as_str()));
        let ok_lt = lt.is_none_or(|t| have.is_some_and(|h| h < t.to_db_string().as_str()));
        ok_gt && ok_lt
    };
    (scope == Scope::WithDeleted || u.is_live())
        && filter.active.is_none_or(|a| u.active == a)
        && filter.is_online.is_none_or(|o| u.is_online == o)
        && time_cmp(
            Some(&u.create_time),
            &filter.create_time_gt,
            &filter.create_time_lt,
        )
        && time_cmp(
            u.last_login_time.as_deref(),
            &filter.last_login_time_gt,
            &filter.last_login_time_lt,
        )
        && eq(&filter.email, &u.email)
        && eq(&filter.name, &Some(u.name.clone()))
        && eq(&filter.role_id, &u.role_id)
        && eq(&filter.user_type, &u.user_type)
        && filter
            .login_ip
            .is_none_or(|ip| u.login_ip.as_deref() == Some(ip.to_string().as_str()))
        && filter.user_id.is_none_or(|id| u.link_id == id)
        && filter
            .user_id_in
            .as_ref()
            .is_none_or(|list| list.contains(&u.link_id))
}

/// The expression a live user item matching `filter` satisfies: the scan filter and the
/// delete condition. Ids are left out: candidates found by key are conditioned by their
/// key, and the Ids plan never scans.
pub fn expression(filter: &Filter) -> Expression {
    expression_in(Scope::Live, filter)
}

/// The expression a user item in `scope` matching `filter` satisfies (ids left out, as
/// in [`expression`]).
pub fn expression_in(scope: Scope, filter: &Filter) -> Expression {
    use Comparison::{Equal, Greater, Less};
    let mut e = match scope {
        Scope::Live => Expression::live_users(),
        Scope::WithDeleted => Expression::users(),
    };
    if let Some(v) = filter.active {
        e.and("active", Equal, v);
    }
    if let Some(v) = filter.is_online {
        e.and("is_online", Equal, v);
    }
    let bounds = [
        ("create_time", Greater, &filter.create_time_gt),
        ("create_time", Less, &filter.create_time_lt),
        ("last_login_time", Greater, &filter.last_login_time_gt),
        ("last_login_time", Less, &filter.last_login_time_lt),
    ];
    for (attribute, comparison, bound) in bounds {
        if let Some(t) = bound {
            e.and(attribute, comparison, t.to_db_string());
        }
    }
    let texts = [
        ("email", &filter.email),
        ("name", &filter.name),
        ("role_id", &filter.role_id),
        ("user_type", &filter.user_type),
    ];
    for (attribute, value) in texts {
        if let Some(v) = value {
            e.and(attribute, Equal, v.as_str());
        }
    }
    if let Some(ip) = &filter.login_ip {
        e.and("login_ip", Equal, ip.to_string());
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::filter::{FilterRequest, query_pairs};
    use aws_sdk_dynamodb::types::AttributeValue;
    use uuid::Uuid;

    fn now() -> Timestamp {
        Timestamp::parse_rfc3339("2026-06-01T00:00:00Z").unwrap()
    }

    fn filter(q: &str) -> Filter {
        let pairs = query_pairs(q);
        FilterRequest::parse(
            pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            now(),
            3,
        )
        .unwrap()
        .filter
    }

    fn user(name: &str) -> UserRecord {
        UserRecord::for_tests(LinkId::new_random(), name, Vec::new())
    }

    #[test]
    fn user_id_within_user_id_in_plans_that_one_key() {
        let id = "91c615e3-1040-4815-8ecb-039a18b756b5";
        let f = filter(&format!(
            "active=false&email=a%40b.c&name=Ann+Lee&user_id={id}&user_id_in={id},{id}"
        ));
        assert_eq!(
            query_plan(&f),
            QueryPlan::Ids(vec![Uuid::parse_str(id).unwrap().into()])
        );
        let other = "91c615e3-1040-4815-8ecb-039a18b756b6";
        let f = filter(&format!("user_id={id}&user_id_in={other}"));
        assert_eq!(query_plan(&f), QueryPlan::Ids(vec![]));
    }

    #[test]
    fn plans_prefer_keys_then_indexes_then_a_scan() {
        assert_eq!(
            query_plan(&filter("email=a@b&active=true")),
            QueryPlan::Email("a@b".into())
        );
        assert_eq!(
            query_plan(&filter("name=x&role_id=r")),
            QueryPlan::Name("x".into())
        );
        assert_eq!(query_plan(&filter("role_id=r")), QueryPlan::Scan);
    }

    #[test]
    fn values_only_ever_appear_as_placeholders() {
        let hostile = "x) OR attribute_exists(pk";
        let f = Filter {
            name: Some(hostile.into()),
            role_id: Some("a\" OR \"1\"=\"1".into()),
            ..Filter::default()
        };
        let e = expression(&f);
        assert!(!e.text().contains("attribute_exists(pk"), "{}", e.text());
        assert!(!e.text().contains('"'), "{}", e.text());
        assert_eq!(e.values()[":f_name"], AttributeValue::S(hostile.into()));
        assert_eq!(
            e.text(),
            "begins_with(#f_pk, :f_user) AND attribute_not_exists(#f_deleted_at) AND #f_name = :f_name AND #f_role_id = :f_role_id"
        );
    }

    #[test]
    fn every_filter_parameter_but_the_ids_becomes_a_term() {
        let e = expression(&filter(
            "active=false&is_online=1&create_time_gt=2026-01-01T00:00:00Z&create_time_lt=now-1d\
             &last_login_time_gt=now-30d&last_login_time_lt=now-1h&email=a%40b.c&name=Ann\
             &role_id=r&user_type=visitor&login_ip=10.0.0.1\
             &user_id=91c615e3-1040-4815-8ecb-039a18b756b5",
        ));
        assert_eq!(e.text().matches(" AND ").count(), 12, "{}", e.text());
        assert_eq!(e.values().len(), 12);
        assert_eq!(e.values()[":f_active"], AttributeValue::Bool(false));
        assert_eq!(
            e.values()[":f_create_time_gt"],
            AttributeValue::S("2026-01-01T00:00:00.000Z".into())
        );
        assert_eq!(
            e.values()[":f_last_login_time_lt"],
            AttributeValue::S("2026-05-31T23:00:00.000Z".into())
        );
        assert_eq!(
            e.values()[":f_login_ip"],
            AttributeValue::S("10.0.0.1".into())
        );
        assert!(
            e.text()
                .contains("#f_last_login_time > :f_last_login_time_gt")
        );
    }

    #[test]
    fn a_soft_deleted_user_never_matches() {
        let mut u = user("Ann");
        let f = filter("name=Ann");
        assert!(matches(&f, &u));
        u.deleted_at = Some("2026-01-02T00:00:00.000Z".into());
        assert!(!matches(&f, &u));
    }

    #[test]
    fn login_time_bounds_are_exclusive_and_never_match_a_user_who_never_logged_in() {
        let mut u = user("Ann");
        let f = filter("last_login_time_lt=2026-03-01T00:00:00Z");
        assert!(!matches(&f, &u), "never logged in");
        u.last_login_time = Some("2026-03-01T00:00:00.000Z".into());
        assert!(!matches(&f, &u), "the bound itself is excluded");
        u.last_login_time = Some("2026-02-28T23:59:59.999Z".into());
        assert!(matches(&f, &u));
        assert!(!matches(
            &filter("last_login_time_gt=2026-03-01T00:00:00Z"),
            &u
        ));
    }

    #[test]
    fn every_field_set_must_hold() {
        let mut u = user("Ann");
        u.active = false;
        u.role_id = Some("r".into());
        u.login_ip = Some("::1".into());
        assert!(matches(
            &filter("active=false&role_id=r&login_ip=0:0::1"),
            &u
        ));
        assert!(!matches(&filter("active=false&role_id=s"), &u));
        assert!(!matches(&filter("active=true&role_id=r"), &u));
        assert!(!matches(&filter("user_type=visitor"), &u), "no user type");
        let id = u.link_id;
        assert!(matches(&filter(&format!("user_id_in={id}")), &u));
        let other = LinkId::new_random();
        assert!(!matches(&filter(&format!("user_id={other}")), &u));
    }
}
